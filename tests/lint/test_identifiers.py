"""The ``presidio`` detector plugin: real spaCy model, real Presidio engine.

Messages are built by hand (the parser is tested elsewhere); the spaCy docs
come from the shared session-scoped ``nlp_service`` fixture, as the engine
would hand them over.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from presidio_analyzer import RecognizerResult

from detectors.identifiers import (
    DEFAULT_SCORE_THRESHOLD,
    IdentifierDetector,
    parse_options,
    resolve_overlaps,
)
from proxy.core.config import Settings, settings_from_mapping
from proxy.core.consent import Registry
from proxy.core.findings import Entity, Finding
from proxy.core.message import Envelope, ParsedMessage, Segment, SubjectTags
from proxy.lint.detector import ENTRY_POINT_GROUP, Detector, InspectionContext
from proxy.lint.nlp import NlpService

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def settings() -> Settings:
    return settings_from_mapping({})


@pytest.fixture(scope="module")
def detector(settings: Settings) -> IdentifierDetector:
    return IdentifierDetector({"score_threshold": 0.4}, settings)


def message(*segments: Segment) -> ParsedMessage:
    subject = next((s.text for s in segments if s.source == "subject"), "")
    return ParsedMessage(
        envelope=Envelope(sender="worker@example.org", recipients=("someone@example.com",)),
        subject=subject,
        tags=SubjectTags(),
        from_name="Jane Smith",
        to=("someone@example.com",),
        cc=(),
        segments=segments,
    )


def context_for(
    msg: ParsedMessage, nlp: NlpService, settings: Settings, *, with_docs: bool = True
) -> InspectionContext:
    docs = nlp.docs([s.text for s in msg.segments]) if with_docs else ()
    return InspectionContext(
        settings=settings,
        registry=Registry(),
        nlp=nlp,
        now=datetime(2026, 3, 2, 10, 0, tzinfo=UTC),
        docs=docs,
    )


def inspect(
    detector: IdentifierDetector, nlp: NlpService, settings: Settings, *segments: Segment
) -> Sequence[Finding]:
    msg = message(*segments)
    return detector.inspect(msg, context_for(msg, nlp, settings))


def summary(findings: Sequence[Finding]) -> list[tuple[str, str, int, int]]:
    return [(f.entity.value, f.location, f.start, f.end) for f in findings]


def test_satisfies_detector_protocol_and_is_registered(settings: Settings) -> None:
    (entry,) = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == "presidio"]
    made = entry.load()({}, settings)
    assert isinstance(made, Detector)
    assert made.name == "presidio"
    assert made.version
    assert made.codes == {
        "US_SSN",
        "CREDIT_CARD",
        "US_BANK_NUMBER",
        "PHONE_NUMBER",
        "EMAIL_ADDRESS",
        "PERSON",
        "DATE_OF_BIRTH",
        "MEDICAID_ID",
        "MEDICARE_ID",
        "CASE_NUMBER",
        "STREET_ADDRESS",
    }


def test_finds_each_identifier_with_offsets_in_the_source(
    detector: IdentifierDetector, nlp_service: NlpService, settings: Settings
) -> None:
    body = (
        "Hi Tom,\n"
        "Maria Lopez (SSN 123-45-6789) lives at 123 N Main St, Chicago, IL 60614.\n"
        "Medicaid ID: AB12345C, MBI 1EG4-TE5-MK73, case CASE-2024-00123.\n"
        "Card 4111 1111 1111 1111, checking account 123456789012.\n"
        "Reach her at (312) 555-0142 or maria.lopez@gmail.com.\n"
    )
    # The body continues a part whose first 40 characters were another segment.
    findings = inspect(detector, nlp_service, settings, Segment("body", body, offset=40))

    def at(value: str) -> tuple[int, int]:
        start = body.index(value)
        return 40 + start, 40 + start + len(value)

    expected = {
        (Entity.PERSON, *at("Maria Lopez")),
        (Entity.US_SSN, *at("123-45-6789")),
        (Entity.STREET_ADDRESS, *at("123 N Main St, Chicago, IL 60614")),
        (Entity.MEDICAID_ID, *at("AB12345C")),
        (Entity.MEDICARE_ID, *at("1EG4-TE5-MK73")),
        (Entity.CASE_NUMBER, *at("CASE-2024-00123")),
        (Entity.CREDIT_CARD, *at("4111 1111 1111 1111")),
        (Entity.US_BANK_NUMBER, *at("123456789012")),
        (Entity.PHONE_NUMBER, *at("(312) 555-0142")),
        (Entity.EMAIL_ADDRESS, *at("maria.lopez@gmail.com")),
    }
    got = {(f.entity, f.start, f.end) for f in findings}
    assert expected <= got
    # "Tom" may or may not be tagged PERSON by the small model; nothing else.
    assert {f.entity for f in findings} <= {e for e, _, _ in expected}
    for finding in findings:
        assert finding.location == "body"
        assert finding.detector == "presidio"
        assert finding.text == body[finding.start - 40 : finding.end - 40]
        assert 0.4 <= finding.score <= 1.0
        assert not finding.quoted


def test_date_of_birth_needs_birth_context(
    detector: IdentifierDetector, nlp_service: NlpService, settings: Settings
) -> None:
    subject = "Intake: DOB 03/14/1990"
    body = "The meeting on 03/14/2026 is moved. Her d.o.b. is March 14, 1990."
    findings = inspect(
        detector,
        nlp_service,
        settings,
        Segment("subject", subject),
        Segment("body", body),
    )
    dobs = [(f.location, f.text) for f in findings if f.entity is Entity.DATE_OF_BIRTH]
    assert dobs == [("subject", "03/14/1990"), ("body", "March 14, 1990")]


def test_overlapping_results_keep_the_most_specific(
    detector: IdentifierDetector, nlp_service: NlpService, settings: Settings
) -> None:
    # phonenumbers also reads 3125550142 as a phone number; the bank label wins.
    body = "Her checking account number is 3125550142."
    findings = inspect(detector, nlp_service, settings, Segment("body", body))
    assert summary(findings) == [("US_BANK_NUMBER", "body", 31, 41)]
    # Without the bank label the same digits are a phone number.
    findings = inspect(detector, nlp_service, settings, Segment("body", "Text 3125550142."))
    assert summary(findings) == [("PHONE_NUMBER", "body", 5, 15)]


def test_resolve_overlaps_prefers_specific_entity_then_score() -> None:
    results = [
        RecognizerResult("PHONE_NUMBER", 4, 14, 0.75),
        RecognizerResult("DATE_OF_BIRTH", 4, 14, 0.5),
        RecognizerResult("PERSON", 20, 31, 0.85),
        RecognizerResult("STREET_ADDRESS", 16, 40, 0.6),
        RecognizerResult("PERSON", 50, 55, 0.6),
        RecognizerResult("PERSON", 50, 60, 0.85),
    ]
    kept = [(r.entity_type, r.start, r.end) for r in resolve_overlaps(results)]
    assert kept == [
        ("DATE_OF_BIRTH", 4, 14),
        ("STREET_ADDRESS", 16, 40),
        ("PERSON", 50, 60),
    ]


def test_signature_skips_contact_details_but_not_ssn(
    detector: IdentifierDetector, nlp_service: NlpService, settings: Settings
) -> None:
    signature = "Jane Smith\nCase Worker\n(312) 555-0100\njane.smith@example.org\nSSN 219-09-9999"
    findings = inspect(
        detector,
        nlp_service,
        settings,
        Segment("body", "See you Monday.\n", offset=0),
        Segment("body", signature, offset=16, signature=True),
    )
    start = 16 + signature.index("219-09-9999")
    assert summary(findings) == [("US_SSN", "body", start, start + 11)]


def test_same_contact_details_outside_a_signature_are_reported(
    detector: IdentifierDetector, nlp_service: NlpService, settings: Settings
) -> None:
    text = "Jane Smith\n(312) 555-0100\njane.smith@example.org"
    findings = inspect(detector, nlp_service, settings, Segment("body", text))
    assert {f.entity for f in findings} == {
        Entity.PERSON,
        Entity.PHONE_NUMBER,
        Entity.EMAIL_ADDRESS,
    }


def test_quoted_segment_findings_are_marked_quoted(
    detector: IdentifierDetector, nlp_service: NlpService, settings: Settings
) -> None:
    quoted = "> her DOB is 1/2/85"
    findings = inspect(
        detector,
        nlp_service,
        settings,
        Segment("body", "Thanks, noted.\n", offset=0),
        Segment("body", quoted, offset=15, quoted=True),
    )
    assert [(f.entity, f.start, f.end, f.quoted) for f in findings] == [
        (Entity.DATE_OF_BIRTH, 28, 34, True)
    ]


def test_attachment_location_and_plain_text_without_identifiers(
    detector: IdentifierDetector, nlp_service: NlpService, settings: Settings
) -> None:
    findings = inspect(
        detector,
        nlp_service,
        settings,
        Segment("body", "Please bring the signed forms on Monday."),
        Segment("attachment:intake.pdf", "Client SSN: 219-09-9999"),
        Segment("body", "   \n"),
    )
    assert summary(findings) == [("US_SSN", "attachment:intake.pdf", 12, 23)]


def test_computes_docs_when_the_context_has_none(
    detector: IdentifierDetector, nlp_service: NlpService, settings: Settings
) -> None:
    msg = message(Segment("body", "DOB: 03/14/1990"))
    findings = detector.inspect(msg, context_for(msg, nlp_service, settings, with_docs=False))
    assert summary(findings) == [("DATE_OF_BIRTH", "body", 5, 15)]


def test_misaligned_docs_are_a_clear_error_without_message_text(
    detector: IdentifierDetector, nlp_service: NlpService, settings: Settings
) -> None:
    msg = message(Segment("body", "SSN 219-09-9999"))
    wrong = InspectionContext(
        settings=settings,
        registry=Registry(),
        nlp=nlp_service,
        now=datetime(2026, 3, 2, tzinfo=UTC),
        docs=nlp_service.docs(["something else"]),
    )
    with pytest.raises(ValueError, match="do not line up") as caught:
        detector.inspect(msg, wrong)
    assert "219-09-9999" not in str(caught.value)


def test_empty_message_has_no_findings(
    detector: IdentifierDetector, nlp_service: NlpService, settings: Settings
) -> None:
    msg = message()
    assert detector.inspect(msg, context_for(msg, nlp_service, settings)) == []


def test_entities_option_limits_what_is_reported(
    nlp_service: NlpService, settings: Settings
) -> None:
    only_ssn = IdentifierDetector({"entities": ["US_SSN"]}, settings)
    text = "Maria Lopez, SSN 219-09-9999, phone (312) 555-0142"
    findings = inspect(only_ssn, nlp_service, settings, Segment("body", text))
    assert summary(findings) == [("US_SSN", "body", 17, 28)]


def test_score_threshold_option_drops_weaker_results(
    nlp_service: NlpService, settings: Settings
) -> None:
    text = "Phone (312) 555-0142, SSN 219-09-9999"
    strict = IdentifierDetector({"score_threshold": 0.8}, settings)
    findings = inspect(strict, nlp_service, settings, Segment("body", text))
    assert [f.entity for f in findings] == [Entity.US_SSN]


def test_case_numbers_follow_the_agency_config(nlp_service: NlpService) -> None:
    custom = settings_from_mapping({"agency": {"case_number_patterns": [r"\bFS\d{7}\b"]}})
    text = "Re FS1234567 and CASE-2024-00123"
    findings = inspect(IdentifierDetector({}, custom), nlp_service, custom, Segment("body", text))
    assert [(f.entity, f.text) for f in findings] == [(Entity.CASE_NUMBER, "FS1234567")]

    none = settings_from_mapping({"agency": {"case_number_patterns": []}})
    findings = inspect(IdentifierDetector({}, none), nlp_service, none, Segment("body", text))
    assert [f.entity for f in findings] == []


def test_analyzer_is_built_once_per_model(nlp_service: NlpService, settings: Settings) -> None:
    fresh = IdentifierDetector({}, settings)
    inspect(fresh, nlp_service, settings, Segment("body", "SSN 219-09-9999"))
    first = fresh._built
    inspect(fresh, nlp_service, settings, Segment("body", "DOB 1/2/85"))
    assert first is not None and fresh._built is first
    recognizers = list(first.analyzer.registry.recognizers)
    # Only our recognizers, never Presidio's whole predefined set.
    assert len(recognizers) == 11
    assert {r.supported_entities[0] for r in recognizers} == set(fresh.codes)


def test_finding_repr_does_not_show_the_value(
    detector: IdentifierDetector, nlp_service: NlpService, settings: Settings
) -> None:
    (finding,) = inspect(detector, nlp_service, settings, Segment("body", "SSN 219-09-9999"))
    assert "219-09-9999" not in repr(finding)


@pytest.mark.parametrize(
    "options, message_part",
    [
        ({"threshold": 0.5}, "unknown option(s) threshold"),
        ({"score_threshold": "high"}, "must be a number"),
        ({"score_threshold": True}, "must be a number"),
        ({"score_threshold": 1.5}, "between 0 and 1"),
        ({"entities": "US_SSN"}, "must be a list"),
        ({"entities": ["US_SSN", "PASSPORT"]}, "unknown entities PASSPORT"),
        ({"entities": []}, "is empty"),
    ],
)
def test_bad_options_are_clear_errors(
    options: dict[str, Any], message_part: str, settings: Settings
) -> None:
    with pytest.raises(ValueError, match="detector 'presidio'") as caught:
        IdentifierDetector(options, settings)
    assert message_part in str(caught.value)


def test_default_options() -> None:
    parsed = parse_options({})
    assert parsed.score_threshold == DEFAULT_SCORE_THRESHOLD
    assert parsed.entities == {Entity(code) for code in IdentifierDetector.codes}


NO_NETWORK_SCRIPT = textwrap.dedent(
    """
    import socket

    def refuse(*args, **kwargs):
        raise RuntimeError("network access attempted")

    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.create_connection = refuse
    socket.getaddrinfo = refuse

    from datetime import UTC, datetime

    from detectors.identifiers import IdentifierDetector
    from proxy.core.config import settings_from_mapping
    from proxy.core.consent import Registry
    from proxy.lint.detector import InspectionContext
    from proxy.core.message import Envelope, ParsedMessage, Segment, SubjectTags
    from proxy.lint.nlp import NlpService

    settings = settings_from_mapping({})
    nlp = NlpService(settings.nlp.model)
    text = "Mail maria.lopez@gmail.com or call (312) 555-0142, Maria Lopez."
    msg = ParsedMessage(
        envelope=Envelope("a@example.org", ("b@example.com",)), subject="",
        tags=SubjectTags(), from_name="", to=(), cc=(), segments=(Segment("body", text),),
    )
    at = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)
    ctx = InspectionContext(settings, Registry(), nlp, at, nlp.docs([text]))
    found = IdentifierDetector({}, settings).inspect(msg, ctx)
    print(sorted({f.entity.value for f in found}))
    """
)


def test_no_network_access_with_sockets_blocked(tmp_path: Path) -> None:
    """A fresh process with sockets refused and an empty tldextract cache.

    Our module must set up tldextract's offline snapshot itself (the variable
    is removed from the child's environment), and nothing may download a
    model or a suffix list.
    """
    env = {k: v for k, v in os.environ.items() if k != "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS"}
    env["TLDEXTRACT_CACHE"] = str(tmp_path / "tld-cache")
    done = subprocess.run(
        [sys.executable, "-c", NO_NETWORK_SCRIPT],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "network access attempted" not in done.stderr
    assert done.stdout.strip() == "['EMAIL_ADDRESS', 'PERSON', 'PHONE_NUMBER']"
