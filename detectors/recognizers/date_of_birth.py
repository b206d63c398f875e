"""DATE_OF_BIRTH: a calendar date labelled as someone's birth date.

A date alone is everyday scheduling ("the meeting on 03/14/2026"); what makes
it identifying is the label. So this recognizer finds dates in the usual US,
ISO and written forms, drops impossible ones (13/45/1990) in the invalidate
hook, and keeps only those with a birth phrase ("DOB", "date of birth",
"born on", "birthday", ...) right next to them.
"""

from __future__ import annotations

import calendar
import re
from typing import ClassVar

from presidio_analyzer import Pattern

from detectors.recognizers.context import ContextRequiredRecognizer

_MONTHS: dict[str, int] = {
    name.lower(): number
    for number in range(1, 13)
    for name in (calendar.month_name[number], calendar.month_abbr[number])
}
_MONTHS["sept"] = 9

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"

_NUMERIC = re.compile(r"(\d{1,4})[/.\-](\d{1,2})[/.\-](\d{1,4})")
_WRITTEN_MDY = re.compile(rf"({_MONTH})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})", re.I)
_WRITTEN_DMY = re.compile(
    rf"(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MONTH})\.?,?\s+(\d{{4}})", re.I
)

EARLIEST_YEAR = 1880
LATEST_YEAR = 2100


def _is_day(year: int, month: int, day: int) -> bool:
    return 1 <= month <= 12 and 1 <= day <= calendar.monthrange(year, month)[1]


def _full_years(year_text: str) -> tuple[int, ...]:
    """Candidate four-digit years; "90" could be 1990 or 2090 (leap years differ)."""
    year = int(year_text)
    if len(year_text) == 2:
        return (1900 + year, 2000 + year)
    if len(year_text) == 4 and EARLIEST_YEAR <= year <= LATEST_YEAR:
        return (year,)
    return ()


def _numeric_is_date(first: str, second: str, third: str) -> bool:
    if len(first) == 4:  # ISO order: year, month, day
        return any(_is_day(y, int(second), int(third)) for y in _full_years(first))
    years = _full_years(third)
    # US order (month/day) first, then day/month for dates like 14/03/1990.
    return any(
        _is_day(y, int(first), int(second)) or _is_day(y, int(second), int(first)) for y in years
    )


def is_calendar_date(text: str) -> bool:
    """True when ``text`` (as matched by one of the patterns) is a real date."""
    stripped = text.strip()
    if match := _NUMERIC.fullmatch(stripped):
        return _numeric_is_date(*match.groups())
    if match := _WRITTEN_MDY.fullmatch(stripped):
        month, day, year = match.groups()
    elif match := _WRITTEN_DMY.fullmatch(stripped):
        day, month, year = match.groups()
    else:
        return False
    years = _full_years(year)
    return any(_is_day(y, _MONTHS[month.lower().rstrip(".")], int(day)) for y in years)


class DateOfBirthRecognizer(ContextRequiredRecognizer):
    """Dates next to a birth phrase; see the module docstring for why."""

    ENTITY = "DATE_OF_BIRTH"
    PATTERNS: ClassVar[tuple[Pattern, ...]] = (
        Pattern("date m/d/y", r"\b\d{1,2}([/.\-])\d{1,2}\1(?:\d{4}|\d{2})\b", 0.3),
        Pattern("date y-m-d", r"\b\d{4}([/.\-])\d{1,2}\1\d{1,2}\b", 0.3),
        Pattern("date month d, y", rf"\b{_MONTH}\.?\s+{_DAY},?\s+\d{{4}}\b", 0.3),
        Pattern("date d month y", rf"\b{_DAY}\s+(?:of\s+)?{_MONTH}\.?,?\s+\d{{4}}\b", 0.3),
    )
    CONTEXT: ClassVar[tuple[str, ...]] = (
        "DOB",
        "D.O.B.",
        "D.O.B",
        "born on",
        "born",
        "date of birth",
        "birth date",
        "birthdate",
        "birthday",
    )

    def invalidate_result(self, pattern_text: str) -> bool:
        return not is_calendar_date(pattern_text)
