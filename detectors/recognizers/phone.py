"""PHONE_NUMBER: phone numbers as people write them, at home and abroad.

Presidio's ``PhoneRecognizer`` only keeps numbers that ``phonenumbers`` calls
*valid* for the agency's region. People write numbers that are merely
*possible* (a new area code the metadata does not know, a made-up 555
number in a form letter) and numbers from abroad (a parent in Guadalajara, a
relative in Manchester), and those were missed. So three ways in, each with a
reason to believe it:

1. ``phonenumbers.PhoneNumberMatcher`` for the agency's region
   (``agency.default_region``) at *possible* leniency: the library knows
   the region's lengths and formats. A seven-digit local number must be
   written NXX-XXXX (with a dash or a dot), because "171 3890 Creekside" is a
   house number followed by a street and "4912576" is any reference number.
2. Any number written with ``+`` and a country code, checked by
   ``phonenumbers`` for that country (the ``+`` says "phone number").
3. A run of digit groups in a national format ``phonenumbers`` cannot place
   ("07700 316 475", "06-82237745"), only next to a phone label ("Mobile:",
   "call me on", "... office"): the label is the evidence.

Dates, times, IP addresses and digits inside longer digit runs (a card
number, an ID) are never phone numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import phonenumbers
from phonenumbers import Leniency, PhoneNumberMatcher
from presidio_analyzer import AnalysisExplanation, LocalRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from detectors.recognizers.date_of_birth import is_calendar_date

VALID_SCORE = 0.75  # valid for the region or its country: the library vouches for it
POSSIBLE_SCORE = 0.5  # right length and shape for the region
LABELLED_SCORE = 0.6  # digit groups with a phone label next to them

MIN_DIGITS = 6
MAX_DIGITS = 15  # E.164's maximum

# Labels that say "the number next to me is a phone number". Before the
# number they end right at it ("Mobile: ", "call me on "); after it they
# start right after it ("723 813 266 office", "0494 41 18 24-Office").
_LABEL_WORDS = (
    r"phone|ph|tel|telephone|cell|cellphone|cel|celular|mobile|m[oó]vil|tel[eé]fono|fax|desk"
    r"|office|home|work|direct|landline|whatsapp|line|contact"
)
# A label starts a word, or follows a line break written out as "\n" (text
# pasted from a form export or a log).
_START = r"(?:\b|(?<=\\n))"
_LABEL_BEFORE = re.compile(
    rf"(?:{_START}(?:{_LABEL_WORDS})(?:\s*(?:number|no\.?|num|\#))?\s*[:#.]?"
    r"|\b(?:call|text|txt|reach|ring|dial|phone|llamar|llame|llamen)\b(?:\s+\w+){0,2}"
    r"\s+(?:at|on|to|al)"
    r"|\b(?:call|text|txt|dial)"
    r"|\b(?:answering|picking\s+up)\s+at"
    r"|\b(?:messages?|texts?|calls?)\s+(?:to|from)"
    r"|\b(?:number|n[uú]mero)(?:\s+(?:there|here|now|abroad|today))?\s*(?:is|es|:)?"
    r")(?:\s|\\n)*\(?\s*$",
    re.IGNORECASE,
)
_LABEL_AFTER = re.compile(
    rf"^\s*[-(,/]?\s*(?:{_LABEL_WORDS})\b",
    re.IGNORECASE,
)
_LOOK_BEFORE = 40  # characters; a label sits right next to its number
_LOOK_AFTER = 16

# Digit groups as phone numbers are written: an optional (area code), then
# two to six groups split by a space, dash or dot. A single unbroken run of
# digits is too often an ID to count on a label alone.
_GROUPED = re.compile(
    r"(?<![\w.+/:-])"
    r"(?:\(\d{1,5}\)[ .-]?\d{1,8}(?:[ .-]\d{1,8}){0,4}"
    r"|\d{1,5}(?:[ .-]\d{1,8}){1,5})"
    r"(?![\w/:]|[.-]\d)"
)
_DOTTED_QUAD = re.compile(r"^\d{1,3}(?:\.\d{1,3}){3}$")
_SEVEN_DIGIT_LOCAL = re.compile(r"^\d{3}[-.]\d{4}$")
_SSN_SHAPE = re.compile(r"^\d{3}-\d{2}-\d{4}$")
_CAPITALISED_WORD = re.compile(r"[ \t]+[A-Z][a-z]{2,}")
_TIME = re.compile(r"^\d{1,2}[.:]\d{2}(?:[.:]\d{2})?$")


@dataclass(frozen=True, slots=True)
class _Found:
    start: int
    end: int
    score: float
    how: str


def _digits(text: str) -> int:
    return sum(ch.isdigit() for ch in text)


def _in_longer_number(text: str, start: int, end: int) -> bool:
    """Part of a card number, an IP address or a longer ID."""
    return bool(
        re.search(r"\d[.\-/]?$", text[max(0, start - 2) : start])
        or re.match(r"^[.\-/]?\d", text[end : end + 2])
    )


def _never_a_phone(value: str) -> bool:
    stripped = value.strip()
    return bool(
        _DOTTED_QUAD.match(stripped)
        or _TIME.match(stripped)
        or _SSN_SHAPE.match(stripped)
        or is_calendar_date(stripped)
    )


def _before_a_street_name(text: str, end: int) -> bool:
    """ "call a taxi to 3348 84 Cassinia Street": a house number, not a phone."""
    return bool(_CAPITALISED_WORD.match(text, end))


def _is_labelled(text: str, start: int, end: int) -> bool:
    before = text[max(0, start - _LOOK_BEFORE) : start]
    # A label may sit on the line above ("Phone:\n439 4166"), not further.
    before = "\n".join(before.split("\n")[-2:])
    after = text[end : end + _LOOK_AFTER].split("\n", 1)[0]
    return bool(_LABEL_BEFORE.search(before) or _LABEL_AFTER.match(after))


class PhoneNumberRecognizer(LocalRecognizer):
    """See the module docstring for the three ways a number gets in."""

    ENTITY = "PHONE_NUMBER"

    def __init__(self, regions: Sequence[str] = ("US",), supported_language: str = "en") -> None:
        self.regions = tuple(dict.fromkeys(r.upper() for r in regions))
        for region in self.regions:
            if region not in phonenumbers.SUPPORTED_REGIONS:
                raise ValueError(f"'{region}' is not a phone region phonenumbers knows")
        super().__init__(
            supported_entities=[self.ENTITY],
            supported_language=supported_language,
            # Labels are weighed here; Presidio's lemma context adds nothing.
            context=[],
        )

    def load(self) -> None:
        """Nothing to load: phonenumbers carries its metadata."""

    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: NlpArtifacts | None = None,
    ) -> list[RecognizerResult]:
        found: dict[tuple[int, int], _Found] = {}
        for item in (*self._regional(text), *self._international(text), *self._labelled(text)):
            if _never_a_phone(text[item.start : item.end]):
                continue
            if _in_longer_number(text, item.start, item.end):
                continue
            if any(
                other.start <= item.start and item.end <= other.end and other.score >= item.score
                for other in found.values()
            ):
                continue
            found[(item.start, item.end)] = item
        return [self._result(item) for item in _outermost(found.values())]

    def _regional(self, text: str) -> Iterator[_Found]:
        for region in self.regions:
            for match in PhoneNumberMatcher(text, region, leniency=Leniency.POSSIBLE):
                raw = match.raw_string
                if _digits(raw) < MIN_DIGITS + 1:
                    continue
                national = phonenumbers.national_significant_number(match.number)
                if len(national) == 7 and not _SEVEN_DIGIT_LOCAL.match(raw.strip()):
                    continue
                if raw.isdigit() and not phonenumbers.is_valid_number(match.number):
                    # A bare run of digits is a phone number only if it is a real one.
                    continue
                valid = phonenumbers.is_valid_number(match.number)
                yield _Found(
                    match.start,
                    match.end,
                    VALID_SCORE if valid else POSSIBLE_SCORE,
                    f"{region} {'valid' if valid else 'possible'}",
                )

    def _international(self, text: str) -> Iterator[_Found]:
        if "+" not in text:
            return
        # Region "ZZ" (unknown): only numbers with a "+" country code parse.
        for match in PhoneNumberMatcher(text, "ZZ", leniency=Leniency.POSSIBLE):
            if not match.raw_string.lstrip("([ ").startswith("+"):
                continue
            valid = phonenumbers.is_valid_number(match.number)
            yield _Found(
                match.start,
                match.end,
                VALID_SCORE if valid else POSSIBLE_SCORE,
                f"international {'valid' if valid else 'possible'}",
            )

    def _labelled(self, text: str) -> Iterator[_Found]:
        for match in _GROUPED.finditer(text):
            digits = _digits(match.group())
            if not MIN_DIGITS <= digits <= MAX_DIGITS:
                continue
            if _is_labelled(text, match.start(), match.end()) and not _before_a_street_name(
                text, match.end()
            ):
                yield _Found(match.start(), match.end(), LABELLED_SCORE, "labelled")

    def _result(self, item: _Found) -> RecognizerResult:
        return RecognizerResult(
            entity_type=self.ENTITY,
            start=item.start,
            end=item.end,
            score=item.score,
            analysis_explanation=AnalysisExplanation(
                recognizer=type(self).__name__,
                original_score=item.score,
                textual_explanation=f"phone number ({item.how})",
            ),
            recognition_metadata={
                RecognizerResult.RECOGNIZER_NAME_KEY: type(self).__name__,
                RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                # Labels were weighed above; Presidio must not boost again.
                RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY: True,
            },
        )


def _outermost(items: Iterable[_Found]) -> list[_Found]:
    """One result per stretch: the longest, then the best scored."""
    ranked = sorted(items, key=lambda f: (f.start - f.end, -f.score, f.start))
    kept: list[_Found] = []
    for item in ranked:
        if all(item.end <= k.start or item.start >= k.end for k in kept):
            kept.append(item)
    return sorted(kept, key=lambda f: f.start)
