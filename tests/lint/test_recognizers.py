"""Our Presidio recognizers, one at a time, in Presidio's test style.

Each case lists the exact (start, end) spans expected; an empty list means the
text must produce no result at all. No language model is needed: the
recognizers check their context on the plain text.
"""

from __future__ import annotations

import pytest
from presidio_analyzer import PatternRecognizer, RecognizerResult

from detectors.recognizers import (
    BankAccountRecognizer,
    CaseNumberRecognizer,
    DateOfBirthRecognizer,
    LabelledSsnRecognizer,
    MedicaidIdRecognizer,
    MedicareIdRecognizer,
    StreetAddressRecognizer,
)
from detectors.recognizers.context import ContextWindow, phrase_pattern
from detectors.recognizers.date_of_birth import is_calendar_date
from detectors.recognizers.medicare import is_mbi

AGENCY_CASE_PATTERNS = (r"\bCASE-\d{4}-\d{4,6}\b", r"\b[A-Z]{2}-\d{2}-\d{6}\b")


def spans(recognizer: PatternRecognizer, text: str) -> list[tuple[int, int]]:
    results = recognizer.analyze(text, recognizer.supported_entities)
    return sorted((r.start, r.end) for r in results)


def only_result(recognizer: PatternRecognizer, text: str) -> RecognizerResult:
    results = recognizer.analyze(text, recognizer.supported_entities)
    assert len(results) == 1
    return results[0]


@pytest.mark.parametrize(
    "text, expected_spans",
    [
        ("DOB: 03/14/1990", [(5, 15)]),
        ("DOB 3-14-90", [(4, 11)]),
        ("D.O.B. 3/14/90", [(7, 14)]),
        ("d.o.b. 1990-03-14", [(7, 17)]),
        ("She was born on March 14, 1990.", [(16, 30)]),
        ("Born 14 March 1990 in Peoria", [(5, 18)]),
        ("date of birth: Sept. 3, 1985", [(15, 28)]),
        ("Her birthday is 4th of July 2001", [(16, 32)]),
        ("Date of\nbirth 12.25.1979", [(14, 24)]),
        ("Client 14/03/1990 (DOB) was seen", [(7, 17)]),
        # A date without birth context is not a date of birth.
        ("the meeting on 03/14/2026", []),
        ("Court hearing March 14, 2026 at 9am", []),
        ("1990-03-14 was a Wednesday", []),
        # Context in a previous sentence does not carry over.
        ("Her DOB is on file. The meeting is on 03/14/2026.", []),
        # Impossible dates are not dates.
        ("DOB 13/45/1990", []),
        ("DOB 02/30/1990", []),
        ("DOB 1990-13-01", []),
        # Feb 29 exists in leap years only.
        ("DOB 02/29/2000", [(4, 14)]),
        ("DOB 02/29/2001", []),
    ],
)
def test_date_of_birth(text: str, expected_spans: list[tuple[int, int]]) -> None:
    assert spans(DateOfBirthRecognizer(), text) == expected_spans


@pytest.mark.parametrize(
    "text, value",
    [
        # "b." / "n." (born, nacido) after a name, in brackets or between commas.
        ("Report on Tomas Reyes (b. 11/9/2016) attached.", "11/9/2016"),
        ("Tomas Reyes (b. November 9, 2016) will start Monday.", "November 9, 2016"),
        ("Tomas Reyes, b. 2016-11-09, lives with his aunt.", "2016-11-09"),
        ("La menor Ana Solis (n. 4/7/2013) vive con su tía.", "4/7/2013"),
        ("d.o.b. 7/21/08 per the intake sheet", "7/21/08"),
        ("dob 7-21-08 per the intake sheet", "7-21-08"),
        # Spanish labels, abbreviated or without the accent, and Spanish dates.
        ("Fecha de nac.: 21/07/2008", "21/07/2008"),
        ("F. nac. 21/07/2008", "21/07/2008"),
        ("El niño nacio el 21 de julio de 2008 en Berwyn.", "21 de julio de 2008"),
        ("Ella nació el 3 de sept. del 2011.", "3 de sept. del 2011"),
        ("fecha de nacimiento: 9 de enero 2015", "9 de enero 2015"),
        # A date written in words after "born".
        ("He was born Oct. 5, 2010 in Maywood.", "Oct. 5, 2010"),
        # Whose birthday it is, after the date.
        ("I wrote 6/30/2017 for Leo's birthday on the form", "6/30/2017"),
    ],
)
def test_date_of_birth_label_variants(text: str, value: str) -> None:
    start = text.index(value)
    assert spans(DateOfBirthRecognizer(), text) == [(start, start + len(value))]


@pytest.mark.parametrize(
    "text",
    [
        # A "b." that is not "born": a plan, a list item, a middle initial.
        "We can go with plan b. 11/9/2016 did not work.",
        "Option b. 11/9/2026 is the hearing date.",
        # Spanish dates without a birth label are appointments.
        "La cita es el 21 de julio de 2026 a las 10.",
        "Nos vemos el 3 de sept. del 2026.",
        # An impossible Spanish date is not a date.
        "Fecha de nacimiento: 30 de febrero de 2012",
    ],
)
def test_date_of_birth_label_variants_not_labels(text: str) -> None:
    assert spans(DateOfBirthRecognizer(), text) == []


@pytest.mark.parametrize(
    "text, expected",
    [
        ("03/14/1990", True),
        ("14/03/1990", True),
        ("3-14-90", True),
        ("1990-03-14", True),
        ("March 14, 1990", True),
        ("14 Mar 1990", True),
        ("February 30, 1990", False),
        ("13/13/1990", False),
        ("03/14/1700", False),
        ("not a date", False),
    ],
)
def test_is_calendar_date(text: str, expected: bool) -> None:
    assert is_calendar_date(text) is expected


@pytest.mark.parametrize(
    "text, expected_spans",
    [
        ("Medicaid ID: AB12345C", [(13, 21)]),
        ("Medicaid # 123456789", [(11, 20)]),
        ("her medicaid number is 98765432101", [(23, 34)]),
        ("MA ID 1234ABCD99", [(6, 16)]),
        ("Recipient ID ZX9988776655 on file", [(13, 25)]),
        # Without a Medicaid label: nothing.
        ("ref AB12345C", []),
        ("Order 123456789 shipped", []),
        # Too short, too long, too few digits.
        ("Medicaid ID: AB1234", []),
        ("Medicaid ID: 123456789012345", []),
        ("Medicaid application pending", []),
        ("Medicaid ID: ABCDEFG12", []),
    ],
)
def test_medicaid_id(text: str, expected_spans: list[tuple[int, int]]) -> None:
    assert spans(MedicaidIdRecognizer(), text) == expected_spans


@pytest.mark.parametrize(
    "text, expected_spans",
    [
        ("MBI 1EG4-TE5-MK73", [(4, 17)]),
        ("Medicare number 1EG4TE5MK73.", [(16, 27)]),
        ("1eg4-te5-mk73", [(0, 13)]),
        ("9AA0-AA0-AA00", [(0, 13)]),
        # Forbidden letters (S, L, O, I, B, Z) are never used by CMS.
        ("1SG4-TE5-MK73", []),
        ("1EG4-TE5-MK7Z", []),
        ("1EG4-TO5-MK73", []),
        ("1EL4TE5MK73", []),
        # Position 1 is 1-9, never 0.
        ("0EG4-TE5-MK73", []),
        # Dashes are 4-3-4 or none.
        ("1EG4-TE5MK73", []),
        # Wrong length.
        ("1EG4TE5MK7", []),
    ],
)
def test_medicare_id(text: str, expected_spans: list[tuple[int, int]]) -> None:
    assert spans(MedicareIdRecognizer(), text) == expected_spans


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1EG4-TE5-MK73", True),
        ("1EG4TE5MK73", True),
        ("1EG4-TE5-MK7", False),
        ("1EG4-TES-MK73", False),
        ("1E-G4TE5-MK73", False),
    ],
)
def test_is_mbi(text: str, expected: bool) -> None:
    assert is_mbi(text) is expected


@pytest.mark.parametrize(
    "text, expected_spans",
    [
        ("CASE-2024-00123", [(0, 15)]),
        ("see case IL-24-001234 and CASE-2023-4567.", [(9, 21), (26, 40)]),
        # Agency patterns are case-sensitive unless they say (?i).
        ("case-2024-00123", []),
        ("CASE-24-00123", []),
        ("XIL-24-001234", []),
    ],
)
def test_case_number(text: str, expected_spans: list[tuple[int, int]]) -> None:
    assert spans(CaseNumberRecognizer(AGENCY_CASE_PATTERNS), text) == expected_spans


def test_case_number_inline_flag_makes_pattern_case_insensitive() -> None:
    recognizer = CaseNumberRecognizer([r"(?i)\bcase-\d{4}\b"])
    assert spans(recognizer, "Case-2024 and CASE-2025") == [(0, 9), (14, 23)]


def test_case_number_rejects_empty_and_bad_patterns() -> None:
    with pytest.raises(ValueError, match=r"agency\.case_number_patterns.*empty"):
        CaseNumberRecognizer([])
    with pytest.raises(ValueError, match=r"agency\.case_number_patterns' entry 2"):
        CaseNumberRecognizer([r"\bok\b", r"(unclosed"])


@pytest.mark.parametrize(
    "text, expected_spans",
    [
        ("She lives at 123 N Main St. Apt 4B, Chicago, IL 60614-1234 now", [(13, 58)]),
        ("123 Main Street", [(0, 15)]),
        ("moved to 4500 West Martin Luther King Drive last week", [(9, 43)]),
        ("1600 Pennsylvania Avenue NW, Washington, DC 20500", [(0, 49)]),
        ("Send to 42 W 5th Ave #3\nChicago, IL 60614", [(8, 41)]),
        ("at 77 Oak Ln Unit 12 tomorrow", [(3, 20)]),
        ("Office: 200 Lake Shore Blvd., Suite 200, Evanston IL 60201", [(8, 58)]),
        ("PO Box 123", [(0, 10)]),
        ("P.O. Box 44, Springfield, IL 62701", [(0, 34)]),
        ("post office box 9 please", [(0, 17)]),
        # Only what is there: no city line after the street.
        ("123 Main St\nBring ID", [(0, 11)]),
        # Not addresses.
        ("3 blocks down the street", []),
        ("We have 2 Way to go", []),
        ("Room 12 on the 3rd floor", []),
        ("the 5 St Patricks", []),
    ],
)
def test_street_address(text: str, expected_spans: list[tuple[int, int]]) -> None:
    assert spans(StreetAddressRecognizer(), text) == expected_spans


@pytest.mark.parametrize(
    "text, expected_spans",
    [
        ("checking account 123456789012", [(17, 29)]),
        ("Acct: 00012345678", [(6, 17)]),
        ("routing 021000021, savings 9876543210", [(8, 17), (27, 37)]),
        ("Her bank is Chase, number 55667788", [(26, 34)]),
        # Digits without a bank label are not a bank number.
        ("call 3125550142", []),
        ("Order 123456789012 shipped", []),
        # Too short / too long.
        ("account 1234567", []),
        ("account 123456789012345678", []),
    ],
)
def test_bank_account(text: str, expected_spans: list[tuple[int, int]]) -> None:
    assert spans(BankAccountRecognizer(), text) == expected_spans


@pytest.mark.parametrize(
    "text, expected_spans",
    [
        # Formatted + SSN label: a finding even for numbers Presidio rejects.
        ("SSN 123-45-6789", [(4, 15)]),
        ("my ssn: 078-05-1120 ok", [(8, 19)]),
        ("SS#219-09-9999", [(3, 14)]),
        ("soc sec 000 00 0000", [(8, 19)]),
        ("Social Security number 666-12-3456", [(23, 34)]),
        ("123-45-6789 (SSN)", [(0, 11)]),
        # No label: Presidio's validator still drops sample/invalid numbers.
        ("123-45-6789", []),
        ("078-05-1120", []),
        ("000-12-3456", []),
        ("111-11-1111", []),
        # No label, plausible and formatted: Presidio's medium pattern.
        ("219-09-9998", [(0, 11)]),
        ("219 09 9998", [(0, 11)]),
        # Label but unformatted and a known sample: Presidio drops it.
        ("SSN 123456789", []),
        # Mixed separators are not a formatted SSN.
        ("SSN 219-09 9999", []),
    ],
)
def test_ssn_spans(text: str, expected_spans: list[tuple[int, int]]) -> None:
    recognizer = LabelledSsnRecognizer()
    found = [
        (r.start, r.end)
        for r in recognizer.analyze(text, recognizer.supported_entities)
        if r.score >= 0.4
    ]
    assert sorted(found) == expected_spans


def test_ssn_label_raises_score_like_presidio_context() -> None:
    recognizer = LabelledSsnRecognizer()
    unlabelled = only_result(recognizer, "219-09-9998")
    labelled = only_result(recognizer, "SSN 219-09-9998")
    assert unlabelled.score == pytest.approx(0.5)
    assert labelled.score == pytest.approx(0.85)
    # Unformatted, plausible nine digits: weak alone, raised by the label.
    assert only_result(recognizer, "219099998").score < 0.4
    assert only_result(recognizer, "ssn 219099998").score == pytest.approx(0.4)


def test_ssn_bare_word_social_is_not_a_label() -> None:
    """'social worker' is everywhere in our mail and must not boost digits."""
    recognizer = LabelledSsnRecognizer()
    assert only_result(recognizer, "social worker 219099998").score < 0.4


def test_context_results_are_not_boosted_again_by_presidio() -> None:
    result = only_result(DateOfBirthRecognizer(), "DOB 03/14/1990")
    assert result.recognition_metadata[RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY]


@pytest.mark.parametrize(
    "text, start, end, expected",
    [
        ("DOB: 1/2/90", 5, 11, True),
        ("date of\nbirth 1/2/90", 14, 20, True),
        ("a b c d e f g DOB h i j k l m 1/2/90", 30, 36, False),
        ("1/2/90 (DOB)", 0, 6, True),
        ("1/2/90, we met. DOB is elsewhere", 0, 6, False),
        ("DOBBY 1/2/90", 6, 12, False),
        ("DOB\n\n1/2/90", 5, 11, False),
    ],
)
def test_context_window(text: str, start: int, end: int, expected: bool) -> None:
    pattern = phrase_pattern(["DOB", "date of birth"])
    assert (
        ContextWindow(words_before=6, words_after=2).has_context(text, start, end, pattern)
        is expected
    )


def test_phrase_pattern_needs_phrases() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        phrase_pattern(["  "])


@pytest.mark.parametrize(
    "text, value",
    [
        # The case word is in the number, next to it, or heads the note.
        ("CASE-2026-00412 was reviewed", "CASE-2026-00412"),
        ("about case AB-24-123456 today", "AB-24-123456"),
        ("Case #: AB-24-123456", "AB-24-123456"),
        ("the file AB-24-123456 is closed", "AB-24-123456"),
        ("Docket no. AB-24-123456, hearing on Monday", "AB-24-123456"),
        ("Re: AB-24-123456 - update", "AB-24-123456"),
        ("RE AB-24-123456", "AB-24-123456"),
        ("AB-24-123456 (case) was transferred", "AB-24-123456"),
        ("el expediente AB-24-123456 está cerrado", "AB-24-123456"),
        ("In re AB-24-123456, the court found", "AB-24-123456"),
    ],
)
def test_case_number_with_case_context(text: str, value: str) -> None:
    start = text.index(value)
    assert spans(CaseNumberRecognizer(AGENCY_CASE_PATTERNS), text) == [(start, start + len(value))]


@pytest.mark.parametrize(
    "text",
    [
        # The same shape as a facilities ticket, an order or with no context.
        "WH-26-004512",
        "Facilities ticket WH-26-004512: the heater in room 4",
        "Work order WH-26-004512 closed",
        "We're sending WH-26-004512 to the vendor",
        "The heater is fixed, see WH-26-004512.",
        "Invoice AB-24-123456 is paid",
        "Re: ticket AB-24-123456",
        # A case word in another sentence does not carry over.
        "The case is closed. Ticket AB-24-123456 is open.",
    ],
)
def test_case_number_shape_without_case_context(text: str) -> None:
    assert spans(CaseNumberRecognizer(AGENCY_CASE_PATTERNS), text) == []


@pytest.mark.parametrize(
    "text, value",
    [
        # A question and its answer.
        ("What's her date of birth?\n3/14/2009", "3/14/2009"),
        ("What's her date of birth? 3/14/2009, I think.", "3/14/2009"),
        ("When was he born?\n\nI think 03/14/2009", "03/14/2009"),
        ("Can you send me his DOB? It's March 14, 2009.", "March 14, 2009"),
        ("¿Cuál es su fecha de nacimiento?\n14/03/2009", "14/03/2009"),
        # A label on the line above.
        ("DOB:\n3/14/2009", "3/14/2009"),
        ("Date of birth\n2009-03-14", "2009-03-14"),
        # Tables: the label heads the date's column.
        ("Name\tDOB\tPhone\nAna Ruiz\t1/2/1980\tnone", "1/2/1980"),
        ("Name | Visit | DOB\nAna | 11/02/2026 | 1/2/1980", "1/2/1980"),
        ("Name\tDOB\nAna\t1/2/1980\nLuis\t3/4/1979", "3/4/1979"),
        # A table flattened to words (HTML cells): the one date on its row.
        ("Name DOB\nAna 1/2/1980", "1/2/1980"),
    ],
)
def test_date_of_birth_label_before_the_sentence_or_line(text: str, value: str) -> None:
    start = text.rindex(value)
    assert (start, start + len(value)) in spans(DateOfBirthRecognizer(), text)


@pytest.mark.parametrize(
    "text",
    [
        # A statement, not a question, about the birth date.
        "Her DOB is on file.\nThe meeting is on 03/14/2026.",
        "Her DOB is on file\nthe meeting is 3/14/2026",
        # A question answered by something else first.
        "What's her date of birth? I will check the file and the court letter of 3/14/2026.",
        # A question about something else.
        "When is the hearing?\n3/14/2026",
        # A heading, but the date is in another column.
        "Name | Visit | DOB\nAna | 11/02/2026 | unknown",
        "Name\tDOB\tVisit\nAna\t\t11/02/2026",
        # A flattened row with two dates: which one is the birth date is unknown.
        "Name DOB Visit\nAna 1/2/1980 11/02/2026",
        # A paragraph break ends a heading's reach.
        "DOB:\n\nThe hearing is on 3/14/2026",
    ],
)
def test_date_of_birth_label_elsewhere_does_not_count(text: str) -> None:
    assert spans(DateOfBirthRecognizer(), text) == []


@pytest.mark.parametrize(
    "text, value",
    [
        # No street-type word, but a unit, a city and state, or a ZIP.
        ("She lives at 4417 N Kedzie, Chicago, IL 60625 now", "4417 N Kedzie, Chicago, IL 60625"),
        ("moved to 1420 Broadway Apt 3 last week", "1420 Broadway Apt 3"),
        ("new place: 55 W Wacker #1200", "55 W Wacker #1200"),
        ("at 1420 Broadway, New York, NY 10018", "1420 Broadway, New York, NY 10018"),
        ("Send it to 250 Greenwich\nNew York NY 10007", "250 Greenwich\nNew York NY 10007"),
        # USPS street types beyond the everyday ones.
        ("at 7015 Arnott Heights", "7015 Arnott Heights"),
        ("moved to 22 Pollen Crescent", "22 Pollen Crescent"),
        ("5 Jimenez Cove", "5 Jimenez Cove"),
    ],
)
def test_street_address_as_people_write_it(text: str, value: str) -> None:
    start = text.index(value)
    assert spans(StreetAddressRecognizer(), text) == [(start, start + len(value))]


@pytest.mark.parametrize(
    "text",
    [
        # Without a street type, a unit, a city with a state or a ZIP: prose.
        "She has 4417 Kedzie things",
        "I met her at 12 Noon, Chicago, IL",
        "3 Kids, 2 Dogs and a cat",
        "Room 12 on the 3rd floor",
        "Call 911 Unit 5 responded",
        "We need 25 Copies, Chicago office",
        "the 2 Credit Union branches",
        "at 10 Grand Central Station",
        "around 40 Minutes late",
    ],
)
def test_street_address_needs_a_unit_or_place_without_a_street_type(text: str) -> None:
    assert spans(StreetAddressRecognizer(), text) == []


@pytest.mark.parametrize(
    "text, value",
    [
        ("Her mother lives at Calle Juárez 123, Guadalajara", "Calle Juárez 123"),
        ("Avenida de la Revolución 1500 int. 4", "Avenida de la Revolución 1500 int. 4"),
        ("Via Leopardi 83", "Via Leopardi 83"),
        ("Rue de Bouillon 316", "Rue de Bouillon 316"),
        ("sent to Freistädter Strasse 61 last year", "Freistädter Strasse 61"),
        ("Strepestraat 143", "Strepestraat 143"),
    ],
)
def test_street_address_abroad(text: str, value: str) -> None:
    start = text.index(value)
    assert spans(StreetAddressRecognizer(), text) == [(start, start + len(value))]


@pytest.mark.parametrize(
    "text",
    [
        "we met via Zoom 2 times",
        "the calle is 3 blocks away",
        "Via the portal, 3 forms were sent",
    ],
)
def test_street_words_abroad_in_prose_are_not_addresses(text: str) -> None:
    assert spans(StreetAddressRecognizer(), text) == []


@pytest.mark.parametrize(
    "text, values",
    [
        # A label on the line above belongs to the nearer date.
        ("DOB:\n04/22/1991\nDates of service: 10/01/2026 - 10/05/2026", ["04/22/1991"]),
        # A request for the birth date, answered in the next sentence.
        ("You asked when he was born.\nIt was 2011-09-14, in Texas.", ["2011-09-14"]),
        ("The school needs her date of birth. It is 3/14/2009.", ["3/14/2009"]),
        # Birth dates listed after one label.
        (
            "the younger child's date of birth is\nJanuary 7, 2020, and the older child's"
            " is March 22, 2016.",
            ["January 7, 2020", "March 22, 2016"],
        ),
        ("DOB 3/14/90 and 4/15/91", ["3/14/90", "4/15/91"]),
        # ... but not a later date of another kind.
        ("born 3/14/90 and moved here on 4/15/2011", ["3/14/90"]),
        ("DOB 3/14/90. Next visit 4/15/2026", ["3/14/90"]),
    ],
)
def test_date_of_birth_in_lists_and_answers(text: str, values: list[str]) -> None:
    found = spans(DateOfBirthRecognizer(), text)
    assert [text[start:end] for start, end in found] == values
