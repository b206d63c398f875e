"""Phone numbers as people write them: the agency's region, "+" numbers from
anywhere, and national formats from abroad next to a phone label.

Each case gives the exact spans expected; an empty list means no result.
"""

from __future__ import annotations

import pytest

from detectors.recognizers import PhoneNumberRecognizer

US = PhoneNumberRecognizer(("US",))


def spans(recognizer: PhoneNumberRecognizer, text: str) -> list[tuple[int, int]]:
    results = recognizer.analyze(text, recognizer.supported_entities)
    return sorted((r.start, r.end) for r in results)


def span_of(text: str, value: str) -> list[tuple[int, int]]:
    start = text.index(value)
    return [(start, start + len(value))]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        # The agency's region, valid or merely possible.
        ("My US number is (415) 555-0132", "(415) 555-0132"),
        ("call me at 415-555-0132 tomorrow", "415-555-0132"),
        ("Her cell 312.555.0142", "312.555.0142"),
        ("new number (894)134-3524 since May", "(894)134-3524"),
        ("Reach him on 1-312-555-0199 after 5", "1-312-555-0199"),
        ("text 3125550142 when you arrive", "3125550142"),
        ("ext line 650-752-7354x549 mobile", "650-752-7354x549"),
        ("her work line is 555-0142", "555-0142"),
        # Written with "+": any country.
        ("Dad's number in Mexico is +52 33 1234 5678", "+52 33 1234 5678"),
        ("UK mobile +44 7700 900123 is hers", "+44 7700 900123"),
        ("Fax: +41 (0)27 240 04 99", "+41 (0)27 240 04 99"),
        ("whatsapp +447700556093", "+447700556093"),
        # National formats from abroad, next to a phone label.
        ("Mobile: 07700 316 475", "07700 316 475"),
        ("Can someone call me on 06-82237745? I have questions", "06-82237745"),
        ("How can we reach you? You can call 05.06.52.16.25", "05.06.52.16.25"),
        ("0494 41 18 24-Office", "0494 41 18 24"),
        ("723 813 266 office", "723 813 266"),
        ("Phone:\n0383 6399470", "0383 6399470"),
        ("Su teléfono: 33 1234 5678", "33 1234 5678"),
        ("They're not answering at 96 466712", "96 466712"),
    ],
)
def test_phone_numbers_are_found(text: str, value: str) -> None:
    assert spans(US, text) == span_of(text, value)


@pytest.mark.parametrize(
    "text",
    [
        # Dates, times, IP addresses and money are not phone numbers.
        "The hearing moved to 03.14.2026 at 9.30",
        "Call me on 12.03.2024 about the lease",
        "server 69.56.161.185 blocked the upload",
        "rent is $1,250.00 due 12/01/2026",
        # An SSN, a card number and an ID are other things.
        "His social security number is 643-21-6917",
        "card 4111 1111 1111 1111 was declined",
        "order number 1984318 shipped",
        "ticket 4912576 is closed",
        # A house number before a street is an address, even after "call".
        "I'd like to call a taxi to 3348 84 Cassinia Street",
        "the office is at 171 3890 Creekside Drive",
        "7015 184 Arnott Heights East",
        # Digit groups with no phone label and no known format.
        "The room holds 730 064 218 items",
        "Scores were 88 478 20 08 in that order",
        # A bare run of digits that is not a real number anywhere.
        "reference 1234567890 on the form",
        # Case numbers and years.
        "CASE-2026-00412 and WH-26-004512",
        "between 2019 and 2024 she moved 3 times",
    ],
)
def test_other_numbers_are_not_phone_numbers(text: str) -> None:
    assert spans(US, text) == []


@pytest.mark.parametrize(
    ("region", "text", "value"),
    [
        ("GB", "ring 020 7946 0958 please", "020 7946 0958"),
        ("MX", "llamar al 33 1234 5678", "33 1234 5678"),
    ],
)
def test_the_agency_region_decides_national_formats(region: str, text: str, value: str) -> None:
    assert spans(PhoneNumberRecognizer((region,)), text) == span_of(text, value)


def test_unknown_region_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="'XX' is not a phone region"):
        PhoneNumberRecognizer(("XX",))


def test_valid_numbers_score_above_merely_possible_ones() -> None:
    valid = US.analyze("call 312-555-0142", ["PHONE_NUMBER"])[0]
    possible = US.analyze("call (894)134-3524", ["PHONE_NUMBER"])[0]
    assert valid.score > possible.score >= 0.4


def test_a_number_abroad_after_its_label() -> None:
    text = "The father is working in Manchester; his number there is 0161 496 0123"
    assert spans(US, text) == span_of(text, "0161 496 0123")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Presidio's own phone recognizer cases (presidio-analyzer/tests/
        # test_phone_recognizer.py): the same spans, nothing more.
        (
            "My US number is (415) 555-0132, and my international one is +1 415 555 0132",
            [(16, 30), (60, 75)],
        ),
        ("My Israeli number is 09-7625400", [(21, 31)]),
    ],
)
def test_presidio_phone_cases(text: str, expected: list[tuple[int, int]]) -> None:
    assert spans(US, text) == expected
