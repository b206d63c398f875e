"""Client names as people write them: one typo, a nickname.

Near matches count only for full names, written as names (capitalised), and
never for the sender's own name or the names on the From, To and Cc lines.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from detectors.client import NICKNAME_SCORE, TYPO_SCORE, ClientDetector
from proxy.core.config import Settings, settings_from_mapping
from proxy.core.consent import CSV_COLUMNS, Registry
from proxy.core.findings import Finding
from proxy.core.message import Envelope, ParsedMessage, Segment, SubjectTags
from proxy.lint.detector import InspectionContext
from proxy.lint.nlp import NlpService
from proxy.store.consent_csv import read_consent_csv

ROWS = [
    "C-1,Jonathan Whitfield,,c1@example.com,email,self,granted,2025-01-01,,no,,",
    "C-2,Robert Johnson,,c2@example.com,email,self,granted,2025-01-01,,no,,",
    "C-3,Elizabeth Moreno,,c3@example.com,email,self,granted,2025-01-01,,no,,",
    "C-4,Ana Ruiz,,c4@example.com,email,self,granted,2025-01-01,,no,,",
    "C-5,Maria Lopez,,c5@example.com,email,self,granted,2025-01-01,,no,,",
]


@pytest.fixture(scope="module")
def registry() -> Registry:
    text = ",".join(CSV_COLUMNS) + "\n" + "\n".join(ROWS) + "\n"
    return Registry(read_consent_csv(io.StringIO(text)))


@pytest.fixture(scope="module")
def settings() -> Settings:
    return settings_from_mapping({})


def run(
    text: str,
    registry: Registry,
    settings: Settings,
    nlp: NlpService,
    *,
    from_name: str = "Jordan Worker",
    headers: Sequence[Segment] = (),
) -> list[tuple[str | None, str, float]]:
    message = ParsedMessage(
        envelope=Envelope("worker@example.org", ("someone@example.com",)),
        subject="",
        tags=SubjectTags(),
        from_name=from_name,
        to=("someone@example.com",),
        cc=(),
        segments=(Segment("body", text),),
        extra_segments=tuple(headers),
    )
    context = InspectionContext(
        settings=settings,
        registry=registry,
        nlp=nlp,
        now=datetime(2026, 3, 2, 15, 0, tzinfo=UTC),
        docs=nlp.docs([text]),
        extra_docs=nlp.docs(s.text for s in headers),
    )
    findings: Sequence[Finding] = ClientDetector({}, settings).inspect(message, context)
    return sorted(
        (f.client_id, text[f.start : f.end], f.score) for f in findings if f.location == "body"
    )


@pytest.mark.parametrize(
    ("text", "client_id", "name", "score"),
    [
        # One typo in a word of six letters or more.
        ("Jonathan Whitfiled called", "C-1", "Jonathan Whitfiled", TYPO_SCORE),
        ("Spoke with Jonathan Whitfeld today", "C-1", "Jonathan Whitfeld", TYPO_SCORE),
        ("Jonathan Whitfeild missed it", "C-1", "Jonathan Whitfeild", TYPO_SCORE),
        ("Elisabeth Moreno is at the shelter", "C-3", "Elisabeth Moreno", TYPO_SCORE),
        ("ROBERT JOHNSTON", "C-2", "ROBERT JOHNSTON", TYPO_SCORE),
        # A letter changed or two swapped in a shorter word of a long name.
        ("Maria Lopes signed", "C-5", "Maria Lopes", TYPO_SCORE),
        ("Mraia Lopez signed", "C-5", "Mraia Lopez", TYPO_SCORE),
        ("Jonathan\nWhitfeld", "C-1", "Jonathan\nWhitfeld", TYPO_SCORE),
        # A nickname, or a formal name for a registered nickname.
        ("Bob Johnson missed the visit", "C-2", "Bob Johnson", NICKNAME_SCORE),
        ("Bobby Johnson", "C-2", "Bobby Johnson", NICKNAME_SCORE),
        ("Liz Moreno called back", "C-3", "Liz Moreno", NICKNAME_SCORE),
        ("Jon Whitfield", "C-1", "Jon Whitfield", NICKNAME_SCORE),
        # A spelling the nickname list knows is a variant, not a typo.
        ("Jonathon Whitfield called", "C-1", "Jonathon Whitfield", NICKNAME_SCORE),
        # The registered name itself is an exact match, as before.
        ("Jonathan Whitfield", "C-1", "Jonathan Whitfield", 1.0),
    ],
)
def test_near_names_are_found(
    text: str,
    client_id: str,
    name: str,
    score: float,
    registry: Registry,
    settings: Settings,
    nlp_service: NlpService,
) -> None:
    assert run(text, registry, settings, nlp_service) == [(client_id, name, score)]


@pytest.mark.parametrize(
    "text",
    [
        # A short name, or a letter added or dropped in a short word.
        "Ana Ruis signed",
        "Ana Ruizz signed",
        "Maria Lopezz signed",
        "Maria Lope signed",
        # Two typos, or a typo in two words.
        "Jonathon Whitfeld called",
        "Jonathn Whitfeld called",
        # Not written as a name.
        "jonathon whitfield called",
        # Parts of names, or a nickname alone.
        "Bob called",
        "Whitfeld called",
        "Johnson and Johnson",
        "Robert called Mr. Johnston",
        # A nickname with another surname.
        "Bob Jonas",
    ],
)
def test_other_names_and_words_are_not_clients(
    text: str, registry: Registry, settings: Settings, nlp_service: NlpService
) -> None:
    assert run(text, registry, settings, nlp_service) == []


def test_the_senders_own_name_is_never_a_near_match(
    registry: Registry, settings: Settings, nlp_service: NlpService
) -> None:
    text = "Thanks,\nJonathon Whitfield"
    assert run(text, registry, settings, nlp_service, from_name="Jonathon Whitfield") == []


def test_names_on_the_address_lines_are_never_near_matches(
    registry: Registry, settings: Settings, nlp_service: NlpService
) -> None:
    cc = Segment("header:Cc", "Bob Johnson <bob.johnson@partner.example.net>", signature=True)
    text = "Bob Johnson will join the call."
    assert run(text, registry, settings, nlp_service, headers=[cc]) == []
    # ... while the client's registered name still counts.
    text = "Bob Johnson will ask Robert Johnson."
    found = run(text, registry, settings, nlp_service, headers=[cc])
    assert found == [("C-2", "Robert Johnson", 1.0)]
