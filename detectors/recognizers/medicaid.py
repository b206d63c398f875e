"""MEDICAID_ID: a state Medicaid number, recognised by its label.

Every state formats Medicaid IDs its own way (8-14 letters and digits), so a
pattern alone would flag half the reference numbers in a mailbox. The label
("Medicaid ID", "MA ID", "recipient ID", ...) is what tells us; without it
there is no finding.
"""

from __future__ import annotations

from typing import ClassVar

from presidio_analyzer import Pattern

from detectors.recognizers.context import ContextRequiredRecognizer

MIN_DIGITS = 3


class MedicaidIdRecognizer(ContextRequiredRecognizer):
    """Alphanumeric IDs with at least three digits, next to a Medicaid label."""

    ENTITY = "MEDICAID_ID"
    PATTERNS: ClassVar[tuple[Pattern, ...]] = (
        Pattern("medicaid id", r"\b(?=(?:[A-Z]*\d){3})[A-Z0-9]{8,14}\b", 0.1),
    )
    CONTEXT: ClassVar[tuple[str, ...]] = (
        "Medicaid",
        "Medicaid ID",
        "Medicaid #",
        "Medicaid no",
        "MA ID",
        "MA #",
        "recipient ID",
        "recipient #",
    )

    def invalidate_result(self, pattern_text: str) -> bool:
        return sum(ch.isdigit() for ch in pattern_text) < MIN_DIGITS
