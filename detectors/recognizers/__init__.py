"""Our Presidio recognizers, one small module each (Presidio's house style)."""

from detectors.recognizers.bank_account import BankAccountRecognizer
from detectors.recognizers.case_number import CaseNumberRecognizer
from detectors.recognizers.date_of_birth import DateOfBirthRecognizer
from detectors.recognizers.medicaid import MedicaidIdRecognizer
from detectors.recognizers.medicare import MedicareIdRecognizer
from detectors.recognizers.phone import PhoneNumberRecognizer
from detectors.recognizers.ssn import LabelledSsnRecognizer
from detectors.recognizers.street_address import StreetAddressRecognizer

__all__ = [
    "BankAccountRecognizer",
    "CaseNumberRecognizer",
    "DateOfBirthRecognizer",
    "LabelledSsnRecognizer",
    "MedicaidIdRecognizer",
    "MedicareIdRecognizer",
    "PhoneNumberRecognizer",
    "StreetAddressRecognizer",
]
