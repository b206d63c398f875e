"""US_BANK_NUMBER: Presidio's bank-number pattern, but only with a bank label.

Presidio's ``UsBankRecognizer`` matches any run of 8-17 digits, which in our
mail means phone numbers, case references and order numbers. A bank account
number is only recognisable by its label ("account", "acct", "routing",
"checking", "savings", "bank"), so we require one.
"""

from __future__ import annotations

from typing import ClassVar

from presidio_analyzer import Pattern
from presidio_analyzer.predefined_recognizers import UsBankRecognizer

from detectors.recognizers.context import ContextRequiredRecognizer


class BankAccountRecognizer(ContextRequiredRecognizer):
    """8-17 digits next to a bank label."""

    ENTITY = "US_BANK_NUMBER"
    PATTERNS: ClassVar[tuple[Pattern, ...]] = tuple(UsBankRecognizer.PATTERNS)
    CONTEXT: ClassVar[tuple[str, ...]] = (
        "account",
        "acct",
        "acct#",
        "account#",
        "routing",
        "checking",
        "savings",
        "bank",
    )
    CONTEXT_SCORE: ClassVar[float] = 0.6
