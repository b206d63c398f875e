"""CASE_NUMBER: the agency's own case-number formats, from configuration.

Every agency numbers its cases differently, so the patterns come from config
key ``agency.case_number_patterns``. They are matched exactly as written
(case-sensitive, Python syntax): an agency that wants case-insensitive matching
writes ``(?i)`` itself, so a pattern never means more than it says.

A string in the case-number shape is not always a case number: facilities,
IT and purchasing number their tickets and orders in the same few shapes
("WH-26-004512" may be the broken heater in room 4). So a match counts only
with evidence that it is a case:

- a case word next to it ("case", "file", "docket", "matter", "Re", "caso",
  "expediente", ...), in the same sentence, or inside the match itself
  ("CASE-2026-00412" says what it is);
- and no ticket word right before it ("ticket", "work order", "invoice",
  ...), which says what it is not.

A case number listed in the consent registry is found by the ``client``
detector whatever surrounds it, so a bare registered number still counts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import ClassVar

import regex
from presidio_analyzer import Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from detectors.recognizers.context import ContextWindow, mark_context_backed, phrase_pattern

CASE_NUMBER_SCORE = 0.85
# "Re AB-24-123456" / "RE: ..." heads a note about a case; the "re" of
# "we're" does not (a word of its own, not after an apostrophe).
_REGARDING = re.compile(r"(?i)(?:^|(?<=[\s(\[]))re(?::|(?![\w'’]))")
CONFIG_KEY = "agency.case_number_patterns"


class CaseNumberRecognizer(PatternRecognizer):
    """One Presidio pattern per configured regex; a match needs a case word."""

    ENTITY = "CASE_NUMBER"
    CONTEXT: ClassVar[tuple[str, ...]] = (
        "case",
        "cases",
        "case number",
        "case no",
        "case #",
        "case#",
        "file",
        "file number",
        "file no",
        "docket",
        "docket no",
        "matter",
        "petition",
        "in re",
        "caso",
        "expediente",
        "client",
        "referral",
        "intake",
    )
    NOT_A_CASE: ClassVar[tuple[str, ...]] = (
        "ticket",
        "ticket #",
        "work order",
        "order #",
        "invoice",
        "PO",
        "purchase order",
        "tracking",
        "incident",
        "service request",
        "request #",
        "confirmation",
        "reservation",
        "facilities",
        "maintenance",
        "helpdesk",
        "help desk",
    )
    WINDOW: ClassVar[ContextWindow] = ContextWindow(words_before=6, words_after=2)
    # A ticket word this close before the match says what it is.
    VETO_WINDOW: ClassVar[ContextWindow] = ContextWindow(words_before=3, words_after=0)

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
            context=list(self.CONTEXT),
            supported_language=supported_language,
            global_regex_flags=0,
        )
        self._case_words = phrase_pattern(self.CONTEXT)
        self._ticket_words = phrase_pattern(self.NOT_A_CASE)
        # Inside the match, only the word "case" (CASE-2026-00412), in any case.
        self._self_labelled = re.compile(r"(?i)(?<![^\W\d_])(?:case|caso)(?![^\W\d_])")

    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: NlpArtifacts | None = None,
        regex_flags: int | None = None,
    ) -> list[RecognizerResult]:
        found = super().analyze(text, entities, nlp_artifacts, regex_flags)
        return [
            mark_context_backed(result, CASE_NUMBER_SCORE)
            for result in found
            if self.is_case(text, result.start, result.end)
        ]

    def is_case(self, text: str, start: int, end: int) -> bool:
        """A case word around or inside the match, and no ticket word before it."""
        if self.VETO_WINDOW.has_context(text, start, end, self._ticket_words):
            return False
        return bool(
            self._self_labelled.search(text, start, end)
            or self.WINDOW.has_context(text, start, end, self._case_words)
            or _REGARDING.search(self.WINDOW.before(text, start))
        )


def _compile_error(pattern: str) -> str | None:
    """Presidio matches with the ``regex`` module; make sure it accepts the pattern."""
    try:
        regex.compile(pattern)
    except regex.error as exc:
        return str(exc)
    return None
