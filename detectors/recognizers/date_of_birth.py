"""DATE_OF_BIRTH: a calendar date labelled as someone's birth date.

A date alone is everyday scheduling ("the meeting on 03/14/2026"); what makes
it identifying is the label. So this recognizer finds dates in the usual US,
ISO and written forms, drops impossible ones (13/45/1990) in the invalidate
hook, and keeps only those with a birth phrase ("DOB", "date of birth",
"born on", "birthday", ...) right next to them, or where people put the label
when they write to each other and fill in forms:

- the sentence before is a question about a birth date and the date answers
  it ("What's her date of birth?" / "3/14/2009");
- the line above is a heading line that names the birth date ("DOB:" on
  its own line; "Name | DOB | Phone" over a row of values), and the date sits
  in the same column of a tab- or pipe-separated table, or is the only date
  on its line when the columns are not marked.

A heading line is a short line of labels: without the birth phrase, every
word in it starts with a capital ("Name DOB"), so "Her DOB is on file" over
a meeting date is prose, not a heading.
"""

from __future__ import annotations

import calendar
import re
from typing import ClassVar

from presidio_analyzer import Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from detectors.recognizers.context import (
    ContextRequiredRecognizer,
    ContextWindow,
    mark_context_backed,
    phrase_pattern,
)

_MONTHS: dict[str, int] = {
    name.lower(): number
    for number in range(1, 13)
    for name in (calendar.month_name[number], calendar.month_abbr[number])
}
_MONTHS["sept"] = 9
# Spanish month names and their usual abbreviations ("12 de mayo de 2012",
# "3 de sept. del 2010").
_SPANISH_MONTHS: dict[str, int] = {
    "enero": 1, "ene": 1, "febrero": 2, "feb": 2, "marzo": 3, "mar": 3, "abril": 4,
    "abr": 4, "mayo": 5, "may": 5, "junio": 6, "jun": 6, "julio": 7, "jul": 7,
    "agosto": 8, "ago": 8, "septiembre": 9, "setiembre": 9, "sept": 9, "sep": 9,
    "set": 9, "octubre": 10, "oct": 10, "noviembre": 11, "nov": 11, "diciembre": 12,
    "dic": 12,
}  # fmt: skip

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?"
    r"|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
_MES = (
    r"(?:ene(?:ro)?|feb(?:rero)?|mar(?:zo)?|abr(?:il)?|may(?:o)?|jun(?:io)?|jul(?:io)?"
    r"|ago(?:sto)?|sept?(?:iembre)?|set(?:iembre)?|oct(?:ubre)?|nov(?:iembre)?|dic(?:iembre)?)"
)

_NUMERIC = re.compile(r"(\d{1,4})[/.\-](\d{1,2})[/.\-](\d{1,4})")
_WRITTEN_MDY = re.compile(rf"({_MONTH})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})", re.I)
_WRITTEN_DMY = re.compile(
    rf"(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MONTH})\.?,?\s+(\d{{4}})", re.I
)
_WRITTEN_ES = re.compile(
    rf"(\d{{1,2}})\s+(?:de\s+)?({_MES})\.?,?\s+(?:de(?:l)?\s+)?(\d{{4}})", re.I
)
# A one-letter "born" right before the date, as written after a name:
# "Jaylen Price (b. 3/2/2015)", "Ana Ruiz, n. 12/05/2012" (nacido/nacida).
# Only after an opening bracket, a comma or a line start, so "plan b." and
# initials in running text are not labels.
_BORN_INITIAL = re.compile(r"(?:^|[(\[,;])\s*(?:b|n|nac)\.\s*$", re.IGNORECASE | re.MULTILINE)
# A question's answer starts with the date, give or take a few words ("It's
# 3/14/2009", "I think 3/14/09").
ANSWER_WORDS_BEFORE_DATE = 4
# A heading line has at most this many words besides the birth phrase.
HEADING_WORDS = 8
# How far above its value a table heading may be (rows of other clients).
TABLE_ROWS = 12
_CELL_SEPARATOR = re.compile(r"\t|\s\|\s?|\s?\|\s")
_QUESTION_END = re.compile(r"\?[\"')\]]?\s*$")
# A request for the birth date, not put as a question ("You asked when he
# was born." / "It was 2011-09-14").
_ASKING = re.compile(
    r"\b(?:ask(?:s|ed|ing)?|want(?:s|ed)?\s+to\s+know|need(?:s|ed)?|request(?:s|ed|ing)?"
    r"|wonder(?:s|ed|ing)?|pregunt\w*|necesit\w*)\b",
    re.IGNORECASE,
)
# Between two birth dates of one list: "3/14/90 and 4/15/91", "January 7,
# 2020, and the older child's is March 22, 2016".
_ENUMERATION = re.compile(
    r"[\s,;&]*(?:and|y|or|o)?[\s,]*"
    r"(?:(?:the|her|his|their|su|sus)\s+)?(?:\w+\s+)?(?:[\w\-]+(?:'s|’s)\s*)?"
    r"(?:(?:is|was|es)\s*)?:?\s*",
    re.IGNORECASE,
)
_SENTENCE_OR_LINE = re.compile(r"(?<=[.!?])[\"')\]]?\s+|\n")
_WORD = re.compile(r"[^\W\d_][\w'’.\-]*")

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
    elif match := _WRITTEN_ES.fullmatch(stripped):
        day, month, year = match.groups()
        number = _SPANISH_MONTHS[month.lower()]
        return any(_is_day(y, number, int(day)) for y in _full_years(year))
    else:
        return False
    years = _full_years(year)
    return any(_is_day(y, _MONTHS[month.lower().rstrip(".")], int(day)) for y in years)


class DateOfBirthRecognizer(ContextRequiredRecognizer):
    """Dates next to a birth phrase; see the module docstring for why."""

    ENTITY = "DATE_OF_BIRTH"
    # One more word after the date than other labels get: people name whose
    # birthday it is after it ("11/02/2019 for Mia's birthday").
    WINDOW: ClassVar[ContextWindow] = ContextWindow(words_before=6, words_after=3)
    PATTERNS: ClassVar[tuple[Pattern, ...]] = (
        Pattern("date m/d/y", r"\b\d{1,2}([/.\-])\d{1,2}\1(?:\d{4}|\d{2})\b", 0.3),
        Pattern("date y-m-d", r"\b\d{4}([/.\-])\d{1,2}\1\d{1,2}\b", 0.3),
        Pattern("date month d, y", rf"\b{_MONTH}\.?\s+{_DAY},?\s+\d{{4}}\b", 0.3),
        Pattern("date d month y", rf"\b{_DAY}\s+(?:of\s+)?{_MONTH}\.?,?\s+\d{{4}}\b", 0.3),
        Pattern(
            "fecha d de mes de y",
            rf"(?i)\b\d{{1,2}}\s+(?:de\s+)?{_MES}\.?,?\s+(?:del?\s+)?\d{{4}}\b",
            0.3,
        ),
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
        "fecha de nacimiento",
        "F. de nacimiento",
        "nacimiento",
        "fecha de nac.",
        "fecha de nac",
        "fecha nac.",
        "f. de nac.",
        "f. nac.",
        "nació",
        "nacio",
        "nacido",
        "nacida",
        "cumpleaños",
    )
    # What a question about a birth date asks ("When was she born?").
    QUESTION: ClassVar[tuple[str, ...]] = (*CONTEXT, "born", "how old", "age")

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(supported_language=supported_language)
        self._question = phrase_pattern(self.QUESTION)
        self._label = phrase_pattern(self.CONTEXT)

    def invalidate_result(self, pattern_text: str) -> bool:
        return not is_calendar_date(pattern_text)

    def analyze(
        self,
        text: str,
        entities: list[str],
        nlp_artifacts: NlpArtifacts | None = None,
        regex_flags: int | None = None,
    ) -> list[RecognizerResult]:
        # The dates themselves, before the context requirement of the base class.
        dates = sorted(
            PatternRecognizer.analyze(self, text, entities, nlp_artifacts, regex_flags),
            key=lambda r: (r.start, r.end),
        )
        kept: list[RecognizerResult] = []
        previous: RecognizerResult | None = None
        for result in dates:
            if self._is_birth_date(text, result.start, result.end, dates, previous) or (
                previous is not None
                and kept
                and kept[-1] is previous
                and _ENUMERATION.fullmatch(text[previous.end : result.start])
            ):
                kept.append(mark_context_backed(result, self.CONTEXT_SCORE))
            previous = result
        return kept

    def _is_birth_date(
        self,
        text: str,
        start: int,
        end: int,
        dates: list[RecognizerResult],
        previous: RecognizerResult | None,
    ) -> bool:
        heading = self.under_heading(text, start, end, dates)
        if heading is not None:
            # In a table the heading says which column holds birth dates: the
            # DOB heading over a visit date's column is not its label. A label
            # in the row itself still counts.
            line_start = text.rfind("\n", 0, start) + 1
            line_end = _line_end(text, end)
            return heading or self.WINDOW.has_context(
                text[line_start:line_end], start - line_start, end - line_start,
                self._context_pattern,
            )  # fmt: skip
        # A label before an earlier date is that date's ("DOB:" / "04/22/1991"
        # / "Dates of service: 10/01/2026"; "born 3/14/90 and moved on
        # 4/15/2011"); dates listed after one label are taken as a list.
        cut = previous.end if previous is not None else 0
        return (
            self.WINDOW.has_context(text[cut:], start - cut, end - cut, self._context_pattern)
            or self.answers_question(text, start)
            or bool(_BORN_INITIAL.search(text[cut:start]))
        )

    def answers_question(self, text: str, start: int) -> bool:
        """The sentence before asks for a birth date and this one starts with the date."""
        pieces = _SENTENCE_OR_LINE.split(text[:start])
        if len(pieces) < 2 or len(_WORD.findall(pieces[-1])) > ANSWER_WORDS_BEFORE_DATE:
            return False
        question = next((p for p in reversed(pieces[:-1]) if p.strip()), "")
        asks = _QUESTION_END.search(question) or _ASKING.search(question)
        return bool(asks and self._question.search(question))

    def under_heading(
        self, text: str, start: int, end: int, dates: list[RecognizerResult]
    ) -> bool | None:
        """Whether the heading line above names the birth date in this date's
        column; None when there is no heading above."""
        line_start = text.rfind("\n", 0, start) + 1
        line_end = _line_end(text, end)
        row = text[line_start:line_end]
        above = text[:line_start].split("\n")[:-1][-TABLE_ROWS:]
        for heading in reversed(above):
            if not heading.strip():
                return None
            if self._is_heading(heading):
                return self._same_column(
                    heading,
                    row,
                    start - line_start,
                    end - line_start,
                    [
                        (d.start - line_start, d.end - line_start)
                        for d in dates
                        if line_start <= d.start and d.end <= line_end
                    ],
                )
            if not _CELL_SEPARATOR.search(heading):
                # Only rows of a marked table stand between a heading and its value.
                return None
        return None

    def _is_heading(self, line: str) -> bool:
        if not self._label.search(line):
            return False
        rest = self._label.sub(" ", line)
        words = _WORD.findall(rest)
        return len(words) <= HEADING_WORDS and all(w[0].isupper() for w in words)

    def _same_column(
        self,
        heading: str,
        row: str,
        start: int,
        end: int,
        dates_in_row: list[tuple[int, int]],
    ) -> bool:
        header_cells = _CELL_SEPARATOR.split(heading)
        if len(header_cells) > 1:
            row_cells = _cell_spans(row)
            if len(row_cells) != len(header_cells):
                return False
            for index, (cell_start, cell_end) in enumerate(row_cells):
                if cell_start <= start and end <= cell_end:
                    return bool(self._label.search(header_cells[index]))
            return False
        # Columns not marked (a table flattened to words): only one date to pick.
        return len(dates_in_row) == 1


def _line_end(text: str, end: int) -> int:
    found = text.find("\n", end)
    return len(text) if found < 0 else found


def _cell_spans(row: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    position = 0
    for separator in _CELL_SEPARATOR.finditer(row):
        spans.append((position, separator.start()))
        position = separator.end()
    spans.append((position, len(row)))
    return spans
