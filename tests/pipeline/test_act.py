"""The act stage on its own: the real engine, a real spool database and a
real upstream (aiosmtpd), without the SMTP front door in between.

These cover the decisions the end-to-end tests cannot provoke cheaply:
analysis failures, a database that is down, monitor mode, masking that
cannot be completed, and the shape of a rejection.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from proxy.core.clock import ManualClock
from proxy.core.config import Settings, settings_from_mapping
from proxy.core.consent import Channel, Registry
from proxy.core.submission import Submission
from proxy.lint.engine import LintEngine, LintResult
from proxy.outbound.relay import SmtpUpstream
from proxy.pipeline.act import DeliveryRecorder, Pipeline
from proxy.pipeline.analysis_pool import AnalysisFailure
from proxy.pipeline.forward import EmailForwarder, Outbound
from proxy.pipeline.notice_queue import NoticeQueue
from proxy.smtp.replies import PipelineProcessor
from proxy.store.audit import AuditTrail
from proxy.store.consent_csv import read_consent_csv
from proxy.store.crypto import MessageCipher
from proxy.store.db import make_engine
from proxy.store.disclosures import DisclosureRecorder
from proxy.store.migrations import upgrade
from proxy.store.record_writer import RecordWriter
from proxy.store.spool_model import SpoolState
from proxy.store.spool_store import SpoolStore
from tests.support.proxy_fixtures import ALL_DAY, CONSENT_CSV, example
from tests.support.upstream_fixtures import Sink, free_port, run_sink

# The examples' Date: a Tuesday, 10:00 in Chicago (whatever day the suite runs).
SENT_AT = datetime(2026, 11, 24, 16, 0, tzinfo=UTC)

WORKER = "jane@example.org"
KEY = bytes(range(32))


class ThreadLinter:
    """The real engine in a thread: what the pool does, minus processes."""

    def __init__(self, engine: LintEngine) -> None:
        self.engine = engine

    async def lint(self, raw: bytes, **kwargs: Any) -> LintResult | AnalysisFailure:
        return await asyncio.to_thread(self.engine.lint, raw, **kwargs)


class FailingLinter:
    async def lint(self, raw: bytes, **kwargs: Any) -> LintResult | AnalysisFailure:
        return AnalysisFailure("timeout")


def settings_with(**overrides: Any) -> Settings:
    base: dict[str, Any] = {"agency": {"working_hours": ALL_DAY, "holidays": []}}
    base.update(overrides)
    return settings_from_mapping(base)


@pytest.fixture
def sink() -> Iterator[Sink]:
    with run_sink() as running:
        yield running


def build(
    tmp_path: Path,
    sink_port: int,
    nlp_service: Any,
    *,
    settings: Settings | None = None,
    linter: Any = None,
    db_url: str | None = None,
    recorder: Callable[[Engine], DeliveryRecorder] = DisclosureRecorder,
) -> tuple[PipelineProcessor, SpoolStore]:
    """The one pipeline, answered in SMTP as the front door answers."""
    settings = settings or settings_with()
    url = db_url or f"sqlite:///{tmp_path / 'spool.db'}"
    engine = make_engine(url)
    if db_url is None:
        upgrade(engine)
    clock = ManualClock(SENT_AT)
    spool = SpoolStore(engine, MessageCipher(KEY), clock=clock)
    outbound = Outbound(
        SmtpUpstream("127.0.0.1", sink_port, starttls="off"), None, settings.notices.findings_header
    )
    if linter is None:
        registry = Registry(read_consent_csv(CONSENT_CSV))
        linter = ThreadLinter(LintEngine(settings, registry, nlp=nlp_service))
    pipeline = Pipeline(
        settings=settings,
        clock=clock,
        linter=linter,
        forwarders={Channel.EMAIL: EmailForwarder(outbound)},
        spool=spool,
        notices=NoticeQueue(spool, settings),
        recorder=recorder(engine),
    )
    return PipelineProcessor(pipeline, settings.agency.tz), spool


def submission(name: str, *recipients: str) -> Submission:
    return Submission(
        id=uuid.uuid4().hex,
        sender=WORKER,
        recipients=recipients,
        user=WORKER,
        raw=example(name),
        received_at=SENT_AT,
    )


def test_analysis_failure_is_a_temporary_failure_and_nothing_is_sent(
    tmp_path: Path, sink: Sink, nlp_service: Any
) -> None:
    pipeline, _ = build(tmp_path, sink.port, nlp_service, linter=FailingLinter())
    reply = asyncio.run(pipeline.process(submission("01-pass-internal.eml", "sam@example.org")))
    assert (reply.code, reply.enhanced) == (451, "4.3.0")
    assert sink.received == []


def test_on_error_pass_relays_unjudged_mail(tmp_path: Path, sink: Sink, nlp_service: Any) -> None:
    settings = settings_with(on_error="pass")
    pipeline, _ = build(tmp_path, sink.port, nlp_service, settings=settings, linter=FailingLinter())
    reply = asyncio.run(pipeline.process(submission("01-pass-internal.eml", "sam@example.org")))
    assert reply.code == 250
    assert len(sink.received) == 1


def test_database_down_while_holding_is_never_a_250(
    tmp_path: Path, sink: Sink, nlp_service: Any
) -> None:
    """The hold cannot be committed: the error must surface (the front
    door turns any error into 451), and nothing may be relayed instead."""
    nowhere = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test?connect_timeout=2"
    pipeline, _ = build(tmp_path, sink.port, nlp_service, db_url=nowhere)
    job = submission("02-dob-external.eml", "intake@partner.example.net")
    with pytest.raises(Exception) as raised:
        asyncio.run(pipeline.process(job))
    assert "OperationalError" in type(raised.value).__name__
    assert sink.received == []


def test_monitor_mode_relays_what_enforce_would_hold(
    tmp_path: Path, sink: Sink, nlp_service: Any
) -> None:
    # The agency turned the findings header on (it is off by default).
    monitor = settings_with(mode="monitor", notices={"findings_header": True})
    pipeline, spool = build(tmp_path, sink.port, nlp_service, settings=monitor)
    job = submission("02-dob-external.eml", "intake@partner.example.net")
    reply = asyncio.run(pipeline.process(job))
    assert reply.code == 250
    assert spool.get(job.id) is None
    assert len(sink.received) == 1
    assert b"X-Tactful-Findings: personal-identifier" in sink.received[0].data


def test_hold_is_stored_encrypted_and_notice_queued(
    tmp_path: Path, sink: Sink, nlp_service: Any
) -> None:
    pipeline, spool = build(tmp_path, sink.port, nlp_service)
    job = submission("02-dob-external.eml", "intake@partner.example.net")
    reply = asyncio.run(pipeline.process(job))
    assert reply.code == 250 and f"reference {job.id}" in str(reply)
    held = spool.get(job.id)
    assert held is not None and held.state == SpoolState.HELD
    assert "personal-identifier" in held.summary.rule_codes
    assert [(r.address, r.kind, r.channel, r.verdict) for r in held.summary.recipients] == [
        ("intake@partner.example.net", "external", "email", "hold")
    ]
    assert spool.raw(job.id) == job.raw
    notices = [m for m in spool.by_state([SpoolState.DEFERRED]) if m.recipients == (WORKER,)]
    assert len(notices) == 1
    text = spool.raw(notices[0].id)
    assert text is not None and job.id.encode() in text
    assert b"date of birth" in text
    assert sink.received == []


def test_masking_that_cannot_be_completed_holds_instead(
    tmp_path: Path, sink: Sink, nlp_service: Any
) -> None:
    """An SSN inside a PDF cannot be masked in place: the message must not
    go out with it, so it is held for a person to decide."""
    from email.message import EmailMessage

    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(text="Client SSN 512-44-8821 for the SNAP form")
    msg = EmailMessage()
    msg["From"] = WORKER
    msg["To"] = "rosa.diaz@example.com"
    msg["Subject"] = "SNAP form"
    msg.set_content("Form attached. SSN 512-44-8821 is on page 1.")
    msg.add_attachment(bytes(pdf.output()), maintype="application", subtype="pdf",
                       filename="snap.pdf")  # fmt: skip
    pipeline, spool = build(tmp_path, sink.port, nlp_service)
    job = Submission(
        id=uuid.uuid4().hex,
        sender=WORKER,
        recipients=("rosa.diaz@example.com",),
        user=WORKER,
        raw=msg.as_bytes(),
        received_at=SENT_AT,
    )
    reply = asyncio.run(pipeline.process(job))
    assert reply.code == 250 and "Held for review" in str(reply)
    held = spool.get(job.id)
    assert held is not None and held.state == SpoolState.HELD
    assert sink.received == []


def test_rejection_reply_is_short_ascii_and_names_the_problem(
    tmp_path: Path, sink: Sink, nlp_service: Any
) -> None:
    pipeline, _ = build(tmp_path, sink.port, nlp_service)
    reply = asyncio.run(
        pipeline.process(submission("04-consent-revoked.eml", "james.okafor@example.net"))
    )
    assert (reply.code, reply.enhanced) == (550, "5.7.1")
    text = str(reply)
    text.encode("ascii")
    assert all(len(line) <= 512 for line in text.split("\r\n"))
    assert "withdrawn consent" in text
    assert sink.received == []


def test_monitor_mode_changes_nothing_it_would_have_masked(
    tmp_path: Path, sink: Sink, nlp_service: Any
) -> None:
    """Monitor mode is for a first rollout: mail goes out as written, with
    the rule codes in a header, and nobody gets a "masked" notice."""
    # The agency turned the findings header on (it is off by default).
    monitor = settings_with(mode="monitor", notices={"findings_header": True})
    pipeline, spool = build(tmp_path, sink.port, nlp_service, settings=monitor)
    job = submission("03-ssn-client-redact.eml", "rosa.diaz@example.com")
    reply = asyncio.run(pipeline.process(job))
    assert reply.code == 250
    (arrived,) = sink.received
    assert b"512-44-8821" in arrived.data
    assert b"X-Tactful-Findings: financial-identifier" in arrived.data
    assert spool.by_state([SpoolState.DEFERRED]) == []  # no notice queued


def test_warned_mail_is_on_record_with_rule_codes_only(
    tmp_path: Path, sink: Sink, nlp_service: Any
) -> None:
    pipeline, _ = build(tmp_path, sink.port, nlp_service)
    job = submission("14-channel-preference.eml", "maria.lopez@example.com")
    reply = asyncio.run(pipeline.process(job))
    assert reply.code == 250
    assert len(sink.received) == 1
    trail = AuditTrail(make_engine(f"sqlite:///{tmp_path / 'spool.db'}"))
    (entry,) = [e for e in trail.entries() if e.action == "message.warn"]
    assert entry.target == job.id and entry.actor == WORKER
    assert entry.details["rules"] == "channel-preference"
    assert entry.details["policy"] == "warn" and entry.details["monitor"] is False
    assert "maria" not in repr(entry.details).lower()
    assert trail.verify().ok


@pytest.fixture
def group_writer() -> Iterator[Callable[[Engine], RecordWriter]]:
    """What tactful serve records with: the group writer, started; stopped
    (its queue committed) when the test ends."""
    started: list[RecordWriter] = []

    def start(engine: Engine) -> RecordWriter:
        writer = RecordWriter(engine)
        writer.start()
        started.append(writer)
        return writer

    yield start
    for writer in started:
        writer.stop()


def test_through_the_group_writer_the_250_comes_after_the_records(
    tmp_path: Path, sink: Sink, nlp_service: Any, group_writer: Callable[[Engine], RecordWriter]
) -> None:
    pipeline, _ = build(tmp_path, sink.port, nlp_service, recorder=group_writer)
    job = submission("14-channel-preference.eml", "maria.lopez@example.com")
    reply = asyncio.run(pipeline.process(job))
    assert reply.code == 250
    # Read at once from another connection: committed before the reply.
    engine = make_engine(f"sqlite:///{tmp_path / 'spool.db'}")
    trail = AuditTrail(engine)
    entries = [(e.action, e.actor, e.target) for e in trail.entries()]
    assert entries == [("message.sent", "proxy", job.id), ("message.warn", WORKER, job.id)]
    assert trail.verify().ok
    engine.dispose()


def test_records_that_cannot_be_written_still_give_the_250(
    tmp_path: Path,
    sink: Sink,
    nlp_service: Any,
    group_writer: Callable[[Engine], RecordWriter],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The message is with the upstream: an error reply would make the
    sender send it again. The failure is logged, with the message id."""
    pipeline, _ = build(tmp_path, sink.port, nlp_service, recorder=group_writer)
    engine = make_engine(f"sqlite:///{tmp_path / 'spool.db'}")
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE disclosure_client"))
    engine.dispose()
    job = submission("14-channel-preference.eml", "maria.lopez@example.com")
    with caplog.at_level(logging.ERROR, logger="proxy.store.record_writer"):
        reply = asyncio.run(pipeline.process(job))
    assert reply.code == 250
    assert len(sink.received) == 1
    assert f"records of message {job.id} not written" in caplog.text
    assert "maria" not in caplog.text.lower()
