"""What detectors read: hidden characters removed, look-alikes folded, and
every offset still pointing at what the sender wrote.

Presidio style: each case is a text and the span (in the text as written)
where a detector must find the value.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from detectors.client import ClientDetector
from detectors.identifiers import IdentifierDetector
from proxy.core.config import Settings, settings_from_mapping
from proxy.core.consent import Registry
from proxy.core.findings import Entity, Finding
from proxy.core.message import Segment
from proxy.lint.detector import InspectionContext
from proxy.lint.nlp import NlpService
from proxy.lint.normalise import (
    digit_lookalikes,
    letter_lookalikes,
    normalise,
    normalise_segment,
)
from proxy.lint.parse import parse_message
from proxy.store.consent_csv import read_consent_csv
from tests.support.proxy_fixtures import CONSENT_CSV

# Every kind of character that renders as nothing, by name.
HIDDEN = {
    "zero width space": "\u200b",
    "zero width non-joiner": "\u200c",
    "zero width joiner": "\u200d",
    "word joiner": "\u2060",
    "byte order mark": "\ufeff",
    "soft hyphen": "\u00ad",
    "left-to-right mark": "\u200e",
    "right-to-left mark": "\u200f",
    "left-to-right embedding": "\u202a",
    "pop directional formatting": "\u202c",
    "first strong isolate": "\u2068",
    "invisible times": "\u2062",
    "combining grapheme joiner": "\u034f",
    "variation selector 16": "\ufe0f",
    "mongolian free variation selector": "\u180b",
    "hangul filler": "\u3164",
    "tag latin small a": "\U000e0061",
    "arabic letter mark": "\u061c",
}


@pytest.mark.parametrize("hidden", HIDDEN.values(), ids=HIDDEN.keys())
@pytest.mark.parametrize("at", [1, 3, 4, 7, 10])
def test_hidden_characters_are_removed_and_offsets_map_back(hidden: str, at: int) -> None:
    value = "123-45-6789"
    raw = f"SSN {value[:at]}{hidden}{value[at:]} today"
    read = normalise(raw)
    assert read.text == f"SSN {value} today"
    start = read.text.index(value)
    # The value's span in what was written includes the hidden character...
    assert read.span(start, start + len(value)) == (4, 4 + len(value) + len(hidden))
    # ...and the words around it map back exactly.
    assert raw[slice(*read.span(0, 3))] == "SSN"
    assert raw[slice(*read.span(len(read.text) - 5, len(read.text)))] == "today"


@pytest.mark.parametrize(
    ("raw", "read"),
    [
        ("１２３-４５-６７８９", "123-45-6789"),  # fullwidth digits
        ("123\u00a045\u20026789", "123 45 6789"),  # no-break and en spaces
        ("\U0001d7cf\U0001d7d0\U0001d7d1", "123"),  # mathematical bold digits
        ("\ufb01le", "file"),  # a ligature
        ("Jose\u0301", "José"),  # a combining accent composes
        ("١٢٣-٤٥-٦٧٨٩", "123-45-6789"),  # Arabic-Indic digits
        ("\U0001d40c\U0001d41a\U0001d42b\U0001d422\U0001d41a", "Maria"),  # bold letters
    ],
)
def test_compatibility_forms_read_as_their_plain_letters(raw: str, read: str) -> None:
    result = normalise(raw)
    assert result.text == read
    assert raw[slice(*result.span(0, len(result.text)))] == raw


@pytest.mark.parametrize(
    ("raw", "read"),
    [
        ("M\u0430ria Lopez", "Maria Lopez"),  # Cyrillic a
        ("Mari\u0430 L\u043ep\u0435z", "Maria Lopez"),  # Cyrillic a, o, e
        ("\u041c\u0430ria Lopez", "Maria Lopez"),  # Cyrillic capital em
        ("Maria \u039fkafor", "Maria Okafor"),  # Greek capital omicron
        ("Ros\u0430 D\u0456az", "Rosa Diaz"),  # Cyrillic a, Ukrainian i
        ("\u0420\u043e\u0441\u0430", "Poca"),  # a word made only of look-alikes
        ("L\u00f3p\u0435z", "L\u00f3pez"),  # accents stay, the look-alike goes
    ],
)
def test_look_alike_letters_fold_to_latin(raw: str, read: str) -> None:
    result = normalise(raw)
    assert result.text == read
    assert result.edits == ()  # one for one: offsets are unchanged


@pytest.mark.parametrize(
    ("raw", "read"),
    [
        ("SSN l23-45-6789", "SSN 123-45-6789"),
        ("SSN I23-45-6789", "SSN 123-45-6789"),
        ("SSN 123-45-678O", "SSN 123-45-6780"),
        ("DOB O1/l5/199O", "DOB 01/15/1990"),
        ("SSN 123 45 67\u041e9", "SSN 123 45 6709"),  # Cyrillic capital O
        ("Card 4111 1111 1111 111l", "Card 4111 1111 1111 1111"),
        ("DOB O3/l4/l988.txt", "DOB 03/14/1988.txt"),  # a file name
    ],
)
def test_digit_look_alikes_fold_inside_numbers(raw: str, read: str) -> None:
    assert normalise(raw).text == read


@pytest.mark.parametrize(
    "raw",
    [
        "Hello World, I will call Ola at 10 about CO2 and lOl.",
        "Iowa, Ohio, Illinois; OK? lol. O'Brien. I-beam. I-95. l-2.",
        "l0l",  # more look-alikes than digits: a word
        "covid19 B12 A1C 3D",
        "привет, как дела?",  # another script stays itself
        "Ελένη and Σοφία",
        "José Núñez O’Brien — “quoted” – fine…",
    ],
)
def test_ordinary_words_are_not_changed(raw: str) -> None:
    read = normalise(raw)
    assert read.text == raw.replace("…", "...")


def test_lookalike_tables_come_from_the_confusables_data() -> None:
    digits = digit_lookalikes()
    assert {digits["O"], digits["l"], digits["I"], digits["\u041e"]} == {"0", "1"}
    letters = letter_lookalikes()
    assert letters["\u0430"] == "a" and letters["\u03bf"] == "o"
    assert len(letters) > 500 and len(digits) > 50  # a table, not a hand-written list
    assert "a" not in letters and "5" not in digits


def test_ascii_text_is_returned_as_is() -> None:
    segment = Segment("body", "Plain 123-45-6789", offset=7)
    assert normalise_segment(segment) is segment


def test_segment_keeps_what_was_written_and_reads_the_normalised_text() -> None:
    segment = normalise_segment(Segment("body", "SSN 1\u200b23-45-678\u00ad9.", offset=10))
    assert segment.text == "SSN 1\u200b23-45-678\u00ad9."
    assert segment.detection_text == "SSN 123-45-6789."
    assert segment.span(4, 15) == (14, 27)
    assert segment.span(0, 0) == (10, 10)


# -- findings point at what was written ------------------------------------


@pytest.fixture(scope="module")
def settings() -> Settings:
    return settings_from_mapping({})


def _findings(raw: bytes, settings: Settings, nlp: NlpService) -> tuple[str, list[Finding]]:
    message = parse_message(raw, limits=settings.limits)
    context = InspectionContext(
        settings=settings,
        registry=Registry(read_consent_csv(CONSENT_CSV)),
        nlp=nlp,
        now=datetime(2026, 3, 2, 15, 0, tzinfo=UTC),
        docs=nlp.docs(s.detection_text for s in message.segments),
    )
    found: list[Finding] = []
    for detector in (IdentifierDetector({}, settings), ClientDetector({}, settings)):
        found.extend(detector.inspect(message, context))
    body = message.full_text.get("body", "")
    return body, found


def _plain(body: str) -> bytes:
    return (
        "From: jane@example.org\nTo: rosa.diaz@example.com\nSubject: note\n"
        "Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" + body
    ).encode()


@pytest.mark.parametrize(
    ("body", "entity", "written"),
    [
        ("SSN 512-44\u200b-8821 on file\n", Entity.US_SSN, "512-44\u200b-8821"),
        ("SSN 512\u00ad-44-8821 on file\n", Entity.US_SSN, "512\u00ad-44-8821"),
        ("SSN 5l2-44-882l on file\n", Entity.US_SSN, "5l2-44-882l"),
        ("SSN ５１２-４４-８８２１ on file\n", Entity.US_SSN, "５１２-４４-８８２１"),
        ("D\u00adOB: 03/14/1987\n", Entity.DATE_OF_BIRTH, "03/14/1987"),
        ("DOB: O3/l4/1987\n", Entity.DATE_OF_BIRTH, "O3/l4/1987"),
        ("Saw M\u0430ria Lopez today\n", Entity.CLIENT, "M\u0430ria Lopez"),
        ("Saw Ma\u200bria Lo\u00adpez today\n", Entity.CLIENT, "Ma\u200bria Lo\u00adpez"),
    ],
)
def test_hidden_values_are_found_where_they_were_written(
    body: str, entity: Entity, written: str, settings: Settings, nlp_service: NlpService
) -> None:
    full, findings = _findings(_plain(body), settings, nlp_service)
    hits = [f for f in findings if f.entity is entity]
    assert hits, f"no {entity} in {body!r}"
    start = full.index(written)
    assert any(
        full[f.start : f.end].endswith(written) and f.end == start + len(written) for f in hits
    ), [(full[f.start : f.end], f.start, f.end) for f in hits]
