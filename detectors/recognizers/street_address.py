"""STREET_ADDRESS: a US street address or PO box, as much of it as is written.

Where a client lives is among the most dangerous things to leak (think of a
survivor of domestic violence), so the span covers everything present: house
number, optional directional, street name, suffix, optional unit and optional
", City, ST 60614-1234" (on the same line or the next). Street-name words must
be capitalised (or ordinals like 5th): "3 blocks down the street" is not an
address, "3 Blocks St" is. Street types are USPS's (``usaddress`` ships the
list: Heights, Cove, Shoals, ...); beyond the everyday ones they must be
capitalised too.

Many addresses have no street-type word at all ("4417 N Kedzie, Chicago, IL
60625", "1420 Broadway Apt 3"). Those count when a unit, or a city with a
state, or a ZIP, makes them unambiguous, and ``usaddress`` (a model trained
on US addresses) reads the candidate as house number, street name and that
unit or place; "3 kids, 2 dogs" or "at 5 and we talked" never get that far.
"""

from __future__ import annotations

import re
from typing import ClassVar

import usaddress
from presidio_analyzer import Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

STREET_SUFFIXES = (
    "Street", "St", "Avenue", "Ave", "Av", "Road", "Rd", "Boulevard", "Blvd", "Drive", "Dr",
    "Lane", "Ln", "Court", "Ct", "Way", "Place", "Pl", "Terrace", "Ter", "Highway", "Hwy",
    "Parkway", "Pkwy", "Circle", "Cir", "Square", "Sq", "Trail", "Trl", "Plaza", "Plz",
    "Alley", "Aly", "Row", "Crescent", "Cres", "Expressway", "Expy", "Freeway", "Fwy",
    "Pike", "Turnpike", "Tpke", "Loop", "Path", "Run", "Point", "Pt", "Crossing", "Xing",
    "Commons", "Walk",
)  # fmt: skip

# USPS street types that are also everyday words after a number and a
# name ("2 Credit Union", "5 Grand Central Station"): left out.
_NOT_STREET_TYPES = frozenset(
    """union unions mission missn key keys light lights rest turn well wells land pass course
    divide fall falls trace track tracks rise radial ramp port ports center centers centre club
    mall station statn""".split()
)
# The rest of USPS's list, written out in full (abbreviations are above).
_USPS_TYPES = sorted(
    (t.capitalize() for t in usaddress.STREET_NAMES if len(t) >= 4 and t not in _NOT_STREET_TYPES),
    key=len,
    reverse=True,
)

_DIRECTIONAL = r"(?:[NSEW]|NE|NW|SE|SW|North|South|East|West)\.?"
_NAME_WORD = r"(?:[A-Z][A-Za-z'\-]*\.?|\d{1,3}(?:st|nd|rd|th))"
_SUFFIX = (
    r"(?:(?i:"
    + "|".join(sorted(STREET_SUFFIXES, key=len, reverse=True))
    + r")|"
    + "|".join(_USPS_TYPES)
    + r")\b\.?"
)
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
# No street type: house number, street name, then a unit or a place. The
# house number has two digits or more, and the name is not a time of day
# ("at 12 Noon, Chicago"), so that counts of things are left alone.
_STREET_NO_TYPE = (
    r"\b\d{2,6}(?:-\d{1,4})?[A-Z]?"
    + r"(?![ \t]+(?i:noon|midnight|am|pm|a\.m\.|p\.m\.)\b)"
    + r"[ \t]+(?:"
    + _DIRECTIONAL
    + r"[ \t]+)?"
    + _NAME_WORD
    + r"(?:[ \t]+"
    + _NAME_WORD
    + r"){0,2}"
    + r"(?:"
    + _UNIT
    + _CITY_STATE_ZIP
    + r"?|"
    + _CITY_STATE_ZIP
    + r")"
)
# Addresses abroad, where the street word comes first or is part of the
# name and the number comes last ("Calle Juárez 123", "Via Leopardi 83",
# "Freistädter Strasse 61", "Strepestraat 143"): families keep addresses in
# the countries they came from. The street words are distinctive enough to
# need no more evidence.
_FOREIGN_FIRST = (
    r"(?:Calle|Avenida|Avda\.|Av\.|Carrera|Carretera|Callej[oó]n|Privada|Paseo|Camino|Calzada"
    r"|Rua|Travessa|Rue|Via|Viale|Piazza|Corso|Vicolo|Carrer|Pla[cç]a|Ulica|ul\.)"
)
_FOREIGN_SUFFIX = (
    r"[A-ZÀ-Ý][a-zß-ÿ]*(?:stra(?:ss|ß)e|str\.|straat|gasse|weg|platz|vej|vei|veien"
    r"|gatan|gata|v[aä]gen|laan|plein|utca|tie|katu)"
)
_PARTICLE = r"(?:de|del|de la|de los|di|da|do|dos|du|des|von|van|der|la|le|el)"
_FOREIGN_NAME_WORD = r"(?:[A-ZÀ-Ý][\w'’.\-]*|\d{1,2}|" + _PARTICLE + r")"
_FOREIGN_STREET = (
    r"\b(?:"
    + _FOREIGN_FIRST
    + r"(?:[ \t]+"
    + _FOREIGN_NAME_WORD
    + r"){1,5}"
    + r"|"
    + _FOREIGN_SUFFIX
    + r"|[A-ZÀ-Ý][\w'’\-]*[ \t]+(?:Stra(?:ss|ß)e|Str\.|Gasse|Weg|Platz|Vej|Vei|Utca)"
    + r")"
    + r",?[ \t]+(?:No\.?[ \t]*|N[º°][ \t]*|\#[ \t]*)?\d{1,5}[A-Za-z]?\b"
    + r"(?:[ \t]*(?:-|,)?[ \t]*(?:(?i:int|interior|depto|dept|piso|apt|apto)\.?[ \t]*\w{1,5}\b))?"
)
_PO_BOX = (
    r"\b(?i:P\.?[ \t]?O\.?[ \t]?Box|Post[ \t]+Office[ \t]+Box)[ \t]+\d{1,6}\b"
    + _CITY_STATE_ZIP
    + r"?"
)


NO_STREET_TYPE = "street address without a street type"
# What usaddress must read in a candidate without a street type: the
# street, and a unit or a place that makes it an address.
_STREET_PARTS = frozenset({"AddressNumber", "StreetName"})
_UNIT_LABEL = "OccupancyIdentifier"  # "Apt 3", "#1200"
_PLACE_PARTS = frozenset({"StateName", "ZipCode"})
_ADDRESS_LABELS = frozenset(
    {
        "AddressNumber", "AddressNumberPrefix", "AddressNumberSuffix", "StreetName",
        "StreetNamePreDirectional", "StreetNamePostDirectional", "StreetNamePreModifier",
        "StreetNamePostType", "StreetNamePreType", "OccupancyType", "OccupancyIdentifier",
        "SubaddressType", "SubaddressIdentifier", "PlaceName", "StateName", "ZipCode",
        "BuildingName",
    }
)  # fmt: skip


def reads_as_address(candidate: str) -> bool:
    """``usaddress`` reads ``candidate`` as a street with a unit or a place."""
    try:
        parsed = usaddress.parse(candidate)
    except Exception:  # a model's failure on odd text is a "no", not a crash
        return False
    labels = [label for _, label in parsed]
    if not labels or labels[0] != "AddressNumber" or not set(labels) <= _ADDRESS_LABELS:
        return False
    found = set(labels)
    return _STREET_PARTS <= found and bool(_UNIT_LABEL in found or found & _PLACE_PARTS)


class StreetAddressRecognizer(PatternRecognizer):
    """Street addresses and PO boxes; see the module docstring."""

    ENTITY = "STREET_ADDRESS"
    PATTERNS: ClassVar[tuple[Pattern, ...]] = (
        Pattern("street address", _STREET, 0.6),
        Pattern(NO_STREET_TYPE, _STREET_NO_TYPE, 0.6),
        Pattern("street address abroad", _FOREIGN_STREET, 0.6),
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

    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: NlpArtifacts | None = None,
        regex_flags: int | None = None,
    ) -> list[RecognizerResult]:
        results = super().analyze(text, entities, nlp_artifacts, regex_flags)
        return [
            result
            for result in results
            if _pattern_name(result) != NO_STREET_TYPE
            or reads_as_address(text[result.start : result.end])
        ]


def _pattern_name(result: RecognizerResult) -> str | None:
    explanation = result.analysis_explanation
    return explanation.pattern_name if explanation is not None else None
