"""CLIENT: registered clients' names, aliases and identifiers found in text."""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from detectors.client import ClientDetector
from proxy.core.config import Settings, settings_from_mapping
from proxy.core.consent import CSV_COLUMNS, Registry
from proxy.core.findings import Entity, Finding
from proxy.core.message import Envelope, ParsedMessage, Segment, SubjectTags
from proxy.lint.detector import ENTRY_POINT_GROUP, InspectionContext
from proxy.lint.nlp import NlpService
from proxy.store.consent_csv import read_consent_csv

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config" / "consent.example.csv"
HEADER = ",".join(CSV_COLUMNS)
EXTRA_ROWS = [
    # Same full name as client C-1001: both must be reported.
    "C-2001,Maria Lopez,,other.maria@example.net,email,self,granted,2025-01-01,,no,,",
    "C-2002,José Núñez O'Brien,Pepe;Jo Nunez,jose@example.net,email,self,granted,2025-01-01,,no,"
    "MCD 7710 4432,",
    "C-2003,Ana Garcia-Lopez,,ana@example.net,email,self,granted,2025-01-01,,no,123-45-6789,",
]


@pytest.fixture(scope="module")
def registry() -> Registry:
    text = EXAMPLE.read_text(encoding="utf-8")
    # The example has the optional release-terms columns; these rows leave them empty.
    padding = "," * (text.splitlines()[0].count(",") - HEADER.count(","))
    text += "\n".join(row + padding for row in EXTRA_ROWS) + "\n"
    return Registry(read_consent_csv(io.StringIO(text)))


@pytest.fixture(scope="module")
def settings() -> Settings:
    return settings_from_mapping({})


def message(*segments: Segment) -> ParsedMessage:
    return ParsedMessage(
        envelope=Envelope("worker@example.org", ("someone@example.com",)),
        subject="",
        tags=SubjectTags(),
        from_name="Jordan Worker",
        to=("someone@example.com",),
        cc=(),
        segments=segments,
    )


def run(
    text: str,
    registry: Registry,
    settings: Settings,
    nlp: NlpService,
    detector: ClientDetector | None = None,
) -> Sequence[Finding]:
    detector = detector or ClientDetector({}, settings)
    msg = message(Segment("body", text))
    context = InspectionContext(
        settings=settings,
        registry=registry,
        nlp=nlp,
        now=datetime(2026, 3, 2, 15, 0, tzinfo=UTC),
        docs=nlp.docs(s.text for s in msg.segments),
    )
    return detector.inspect(msg, context)


def spans(findings: Sequence[Finding], text: str) -> list[tuple[str | None, str]]:
    return sorted((f.client_id, text[f.start : f.end]) for f in findings)


def both(span: str) -> list[tuple[str, str]]:
    """Two registered clients share the name Maria Lopez."""
    return [("C-1001", span), ("C-2001", span)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Met Maria Lopez today.", both("Maria Lopez")),
        ("met MARIA LOPEZ and maria lopez", both("MARIA LOPEZ") + both("maria lopez")),
        ("Spoke to Maria\nLopez about rent", both("Maria\nLopez")),
        ("Maria  \r\n  Lopez", both("Maria  \r\n  Lopez")),
        ("Maria Lopez's housing form", both("Maria Lopez")),
        ("Maria Lopez’s housing form", both("Maria Lopez")),
        ("Mari Lopez called", [("C-1001", "Mari Lopez")]),
        ("Maria Elena Lopez called", [("C-1001", "Maria Elena Lopez")]),
        # First names alone are too common to mean a client.
        ("Maria called back", []),
        ("Lopez called back", []),
        ("Kevin asked about bus passes", []),
        # ... unless they are a listed alias.
        ("Pepe called back", [("C-2002", "Pepe")]),
        ("Pepperoni pizza", []),
        # Whole words only.
        ("Sent to KevinTran and Maria Lopezz", []),
        # Accents and curly apostrophes as workers type them.
        ("Jose Nunez O’Brien is waiting", [("C-2002", "Jose Nunez O’Brien")]),
        ("JOSÉ NÚÑEZ O'BRIEN", [("C-2002", "JOSÉ NÚÑEZ O'BRIEN")]),
        ("Jose Nunez OBrien", []),
        # Hyphenated names must keep their hyphen.
        ("Ana Garcia-Lopez signed", [("C-2003", "Ana Garcia-Lopez")]),
        ("Ana Garcia Lopez signed", []),
        # Identifiers, with or without separators, in any case.
        ("Re: CASE-2026-00412", [("C-1001", "CASE-2026-00412")]),
        ("file case 2026 00412 today", [("C-1001", "case 2026 00412")]),
        ("ref CASE202600412.", [("C-1001", "CASE202600412")]),
        ("Medicaid MCD480219377", [("C-1001", "MCD480219377")]),
        ("Medicaid 77104432", []),
        ("Medicaid MCD-7710-4432", [("C-2002", "MCD-7710-4432")]),
        ("SSN on file 123 45 6789", [("C-2003", "123 45 6789")]),
        # A longer number is a different number.
        ("CASE-2026-004123", []),
        ("XCASE-2026-00412", []),
        ("IL-26-004513 and Jim Okafor", [("C-1002", "IL-26-004513"), ("C-1002", "Jim Okafor")]),
        # Authorized third parties are not clients.
        ("Dana Whitfield from the school", []),
        ("", []),
    ],
)
def test_matches(
    text: str,
    expected: list[tuple[str, str]],
    registry: Registry,
    settings: Settings,
    nlp_service: NlpService,
) -> None:
    assert spans(run(text, registry, settings, nlp_service), text) == sorted(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Surname first, as case files and forms write names.
        ("Client: Okafor, James (intake 2024)", [("C-1002", "Okafor, James")]),
        ("TRAN, KEVIN - annual review", [("C-1004", "TRAN, KEVIN")]),
        ("Tran,Kevin signed the release", [("C-1004", "Tran,Kevin")]),
        ("Brooks, Tanya\nRoom 4", [("C-1003", "Brooks, Tanya")]),
        # An alias reversed; and a three-word name at either split.
        ("re: Okafor, Jim", [("C-1002", "Okafor, Jim")]),
        # (the other Maria Lopez, C-2001, is named by the shorter form inside).
        ("Lopez, Maria Elena", [("C-1001", "Lopez, Maria Elena"), ("C-2001", "Lopez, Maria")]),
        ("Elena Lopez, Maria", [("C-1001", "Elena Lopez, Maria"), ("C-2001", "Lopez, Maria")]),
        # Hyphens and apostrophes stay inside their word.
        ("Garcia-Lopez, Ana", [("C-2003", "Garcia-Lopez, Ana")]),
        ("Nunez O'Brien, Jose", [("C-2002", "Nunez O'Brien, Jose")]),
        ("O'Brien, Jose Nunez", [("C-2002", "O'Brien, Jose Nunez")]),
        # Not a reversed name: lower case prose, no comma, another order.
        ("the brooks, tanya said, were flooded", []),
        ("Okafor James", []),
        ("James, Okafor", []),
        ("Lopez-Garcia, Ana", []),
    ],
)
def test_surname_first(
    text: str,
    expected: list[tuple[str, str]],
    registry: Registry,
    settings: Settings,
    nlp_service: NlpService,
) -> None:
    assert spans(run(text, registry, settings, nlp_service), text) == sorted(expected)


def test_findings_are_typed_and_point_into_the_full_source(
    registry: Registry, settings: Settings, nlp_service: NlpService
) -> None:
    full = "Hi team,\nKevin Tran is doing well.\n\n> On Monday you wrote:\n> Kev Tran missed it"
    split = full.index("> On Monday")
    msg = message(
        Segment("body", full[:split], offset=0),
        Segment("body", full[split:], offset=split, quoted=True),
        Segment("subject", "Kevin Tran follow-up"),
    )
    context = InspectionContext(
        settings=settings,
        registry=registry,
        nlp=nlp_service,
        now=datetime(2026, 3, 2, tzinfo=UTC),
        docs=nlp_service.docs(s.text for s in msg.segments),
    )
    findings = ClientDetector({}, settings).inspect(msg, context)
    assert len(findings) == 3
    for finding in findings:
        assert finding.entity is Entity.CLIENT
        assert finding.client_id == "C-1004"
        assert finding.detector == "client"
        assert finding.score == 1.0
    body = [f for f in findings if f.location == "body"]
    assert [(full[f.start : f.end], f.quoted) for f in body] == [
        ("Kevin Tran", False),
        ("Kev Tran", True),
    ]
    assert [f.text for f in body] == ["Kevin Tran", "Kev Tran"]
    (subject,) = [f for f in findings if f.location == "subject"]
    assert (subject.start, subject.end, subject.text) == (0, 10, "Kevin Tran")
    # The matched name is client data: it must not show in a repr.
    assert "Kevin" not in repr(subject)


def test_empty_registry_finds_nothing(settings: Settings, nlp_service: NlpService) -> None:
    assert run("Maria Lopez CASE-2026-00412", Registry(), settings, nlp_service) == []


def test_index_is_rebuilt_for_a_new_snapshot_only(
    registry: Registry, settings: Settings, nlp_service: NlpService
) -> None:
    detector = ClientDetector({}, settings)
    first = detector.index_for(registry)
    assert detector.index_for(registry) is first
    row = "C-9,Rosa Parkes,,rosa@example.net,email,self,granted,2025-01-01,,no,,"
    newer = Registry(read_consent_csv(io.StringIO(f"{HEADER}\n{row}\n")))
    assert detector.index_for(newer) is not first
    text = "Rosa Parkes and Maria Lopez"
    assert spans(run(text, newer, settings, nlp_service, detector), text) == [
        ("C-9", "Rosa Parkes")
    ]
    assert ("C-1001", "Maria Lopez") in spans(
        run(text, registry, settings, nlp_service, detector), text
    )


def test_thousands_of_clients(settings: Settings, nlp_service: NlpService) -> None:
    rows = [
        f"C-{n},Client{n} Surname{n},,c{n}@example.com,email,self,granted,2025-01-01,,no,"
        f"CASE-2026-{n:05d},"
        for n in range(5000)
    ]
    registry = Registry(read_consent_csv(io.StringIO("\n".join([HEADER, *rows]) + "\n")))
    text = ("Routine update with no names. " * 200) + "Client4321 Surname4321, CASE-2026-00077."
    found = spans(run(text, registry, settings, nlp_service), text)
    assert found == [("C-4321", "Client4321 Surname4321"), ("C-77", "CASE-2026-00077")]


def test_registered_as_a_plugin(settings: Settings) -> None:
    (entry,) = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == "client"]
    detector = entry.load()({}, settings)
    assert isinstance(detector, ClientDetector)
    assert detector.codes == frozenset({"CLIENT"})


def test_unknown_options_are_refused(settings: Settings) -> None:
    with pytest.raises(ValueError, match="takes no options"):
        ClientDetector({"fuzzy": True}, settings)
