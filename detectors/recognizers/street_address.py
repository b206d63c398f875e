"""STREET_ADDRESS: a US street address or PO box, as much of it as is written.

Where a client lives is among the most dangerous things to leak (think of a
survivor of domestic violence), so the span covers everything present: house
number, optional directional, street name, suffix, optional unit and optional
", City, ST 60614-1234" (on the same line or the next). Street-name words must
be capitalised (or ordinals like 5th): "3 blocks down the street" is not an
address, "3 Blocks St" is.
"""

from __future__ import annotations

import re
from typing import ClassVar

from presidio_analyzer import Pattern, PatternRecognizer

STREET_SUFFIXES = (
    "Street", "St", "Avenue", "Ave", "Av", "Road", "Rd", "Boulevard", "Blvd", "Drive", "Dr",
    "Lane", "Ln", "Court", "Ct", "Way", "Place", "Pl", "Terrace", "Ter", "Highway", "Hwy",
    "Parkway", "Pkwy", "Circle", "Cir", "Square", "Sq", "Trail", "Trl", "Plaza", "Plz",
    "Alley", "Aly", "Row", "Crescent", "Cres", "Expressway", "Expy", "Freeway", "Fwy",
    "Pike", "Turnpike", "Tpke", "Loop", "Path", "Run", "Point", "Pt", "Crossing", "Xing",
    "Commons", "Walk",
)  # fmt: skip

_DIRECTIONAL = r"(?:[NSEW]|NE|NW|SE|SW|North|South|East|West)\.?"
_NAME_WORD = r"(?:[A-Z][A-Za-z'\-]*\.?|\d{1,3}(?:st|nd|rd|th))"
_SUFFIX = r"(?i:" + "|".join(sorted(STREET_SUFFIXES, key=len, reverse=True)) + r")\b\.?"
_UNIT = (
    r"(?:,?[ \t]*(?:(?i:Apt|Apartment|Unit|Suite|Ste|Floor|Fl|Room|Rm|Bldg|Building)\.?"
    r"[ \t]*\#?[ \t]*|\#[ \t]*)[A-Za-z0-9][A-Za-z0-9\-]{0,5}\b)"
)
_STATE = r"(?:[A-Z]{2}|[A-Z]\.[A-Z]\.)"
_ZIP = r"\d{5}(?:-\d{4})?"
# The state needs a comma before it or a ZIP after it ("Chicago, IL" or
# "Chicago IL 60614"), so "123 Main St\nBring ID" does not swallow "Bring ID".
_CITY_STATE_ZIP = (
    r"(?:(?:,[ \t]*|[ \t]*\n[ \t]*)[A-Z][A-Za-z.'\-]*(?:[ \t][A-Z][A-Za-z.'\-]*){0,3}"
    r"(?:,[ \t]*"
    + _STATE
    + r"(?:[ \t]+"
    + _ZIP
    + r")?|[ \t]+"
    + _STATE
    + r"[ \t]+"
    + _ZIP
    + r")\b)"
)
_HOUSE_NUMBER = r"\b\d{1,6}(?:-\d{1,4})?[A-Z]?"
_STREET = (
    _HOUSE_NUMBER
    + r"[ \t]+(?:"
    + _DIRECTIONAL
    + r"[ \t]+)?"
    + _NAME_WORD
    + r"(?:[ \t]+"
    + _NAME_WORD
    + r"){0,3}[ \t]+"
    + _SUFFIX
    + r"(?:[ \t]+"
    + _DIRECTIONAL
    + r"(?![A-Za-z]))?"
    + _UNIT
    + r"?"
    + _CITY_STATE_ZIP
    + r"?"
)
_PO_BOX = (
    r"\b(?i:P\.?[ \t]?O\.?[ \t]?Box|Post[ \t]+Office[ \t]+Box)[ \t]+\d{1,6}\b"
    + _CITY_STATE_ZIP
    + r"?"
)


class StreetAddressRecognizer(PatternRecognizer):
    """Street addresses and PO boxes; see the module docstring."""

    ENTITY = "STREET_ADDRESS"
    PATTERNS: ClassVar[tuple[Pattern, ...]] = (
        Pattern("street address", _STREET, 0.6),
        Pattern("po box", _PO_BOX, 0.6),
    )
    CONTEXT: ClassVar[tuple[str, ...]] = ("address", "live", "reside", "home", "stay", "move")

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(
            supported_entity=self.ENTITY,
            patterns=[Pattern(p.name, p.regex, p.score) for p in self.PATTERNS],
            context=list(self.CONTEXT),
            supported_language=supported_language,
            # Case matters here (capitalised street names); suffixes and unit
            # words switch it off locally with (?i:...).
            global_regex_flags=re.MULTILINE,
        )
