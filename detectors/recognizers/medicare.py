"""MEDICARE_ID: the Medicare Beneficiary Identifier (MBI).

The MBI has a fixed shape set by CMS, ``C A AN N A AN N A A N N`` (C: digit
1-9, N: digit, A: letter other than S, L, O, I, B, Z, AN: either), often
written 1EG4-TE5-MK73. The regex is deliberately loose (any letter in letter
positions) and the validate hook enforces the CMS rules, so a string with a
forbidden letter is rejected in one readable place rather than hidden in a
character class.
"""

from __future__ import annotations

from typing import ClassVar

from presidio_analyzer import Pattern, PatternRecognizer

# Letters CMS never uses in an MBI (they look like digits or each other).
EXCLUDED_LETTERS = frozenset("SLOIBZ")
# Kind of each of the 11 positions: C digit 1-9, N digit, A allowed letter,
# X allowed letter or digit.
_LAYOUT = "CAXNAXNAANN"


def _fits(kind: str, char: str) -> bool:
    letter_ok = char.isascii() and char.isalpha() and char not in EXCLUDED_LETTERS
    if kind == "C":
        return char in "123456789"
    if kind == "N":
        return char in "0123456789"
    if kind == "A":
        return letter_ok
    return letter_ok or char in "0123456789"


def is_mbi(text: str) -> bool:
    """True when ``text`` follows the CMS MBI rules (dashes 4-3-4 or none)."""
    value = text.upper()
    if "-" in value:
        groups = value.split("-")
        if [len(g) for g in groups] != [4, 3, 4]:
            return False
        value = "".join(groups)
    return len(value) == len(_LAYOUT) and all(map(_fits, _LAYOUT, value))


class MedicareIdRecognizer(PatternRecognizer):
    """MBIs, with or without the display dashes."""

    ENTITY = "MEDICARE_ID"
    PATTERNS: ClassVar[tuple[Pattern, ...]] = (
        Pattern(
            "mbi",
            r"\b\d[A-Z][A-Z0-9]\d-?[A-Z][A-Z0-9]\d-?[A-Z]{2}\d{2}\b",
            0.5,
        ),
    )
    CONTEXT: ClassVar[tuple[str, ...]] = ("medicare", "mbi", "beneficiary", "hicn")

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(
            supported_entity=self.ENTITY,
            patterns=[Pattern(p.name, p.regex, p.score) for p in self.PATTERNS],
            context=list(self.CONTEXT),
            supported_language=supported_language,
        )

    def validate_result(self, pattern_text: str) -> bool:
        return is_mbi(pattern_text)
