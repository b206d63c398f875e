"""CASE_NUMBER: the agency's own case-number formats, from configuration.

Every agency numbers its cases differently, so the patterns come from config
key ``agency.case_number_patterns``. They are matched exactly as written
(case-sensitive, Python syntax): an agency that wants case-insensitive matching
writes ``(?i)`` itself, so a pattern never means more than it says.
"""

from __future__ import annotations

from collections.abc import Sequence

import regex
from presidio_analyzer import Pattern, PatternRecognizer

CASE_NUMBER_SCORE = 0.85
CONFIG_KEY = "agency.case_number_patterns"


class CaseNumberRecognizer(PatternRecognizer):
    """One Presidio pattern per configured regex."""

    ENTITY = "CASE_NUMBER"

    def __init__(self, patterns: Sequence[str], supported_language: str = "en") -> None:
        if not patterns:
            raise ValueError(f"config key '{CONFIG_KEY}' is empty: there is nothing to match")
        for number, pattern in enumerate(patterns, start=1):
            error = _compile_error(pattern)
            if error is not None:
                raise ValueError(
                    f"config key '{CONFIG_KEY}' entry {number} is not a usable regex: {error}"
                )
        super().__init__(
            supported_entity=self.ENTITY,
            patterns=[
                Pattern(f"case number {number}", pattern, CASE_NUMBER_SCORE)
                for number, pattern in enumerate(patterns, start=1)
            ],
            context=["case", "case number", "case #"],
            supported_language=supported_language,
            global_regex_flags=0,
        )


def _compile_error(pattern: str) -> str | None:
    """Presidio matches with the ``regex`` module; make sure it accepts the pattern."""
    try:
        regex.compile(pattern)
    except regex.error as exc:
        return str(exc)
    return None
