"""The scheduler with a real spool database and a real upstream: retries
with back-off, permanent refusals go back to the sender, expired holds are
returned with a notice, and notices are never about notices."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from proxy.core.clock import ManualClock
from proxy.core.config import settings_from_mapping
from proxy.core.consent import Channel
from proxy.core.submission import Submission
from proxy.core.verdict import ReleaseTerms
from proxy.outbound.relay import SmtpUpstream
from proxy.pipeline.forward import Outbound
from proxy.pipeline.notice_queue import NoticeQueue
from proxy.pipeline.scheduler import RETRY_DELAYS, Scheduler
from proxy.pipeline.services import Services
from proxy.store.audit import AuditTrail
from proxy.store.crypto import MessageCipher
from proxy.store.db import make_engine, session_factory
from proxy.store.disclosures import Disclosure, DisclosureLog, record_all
from proxy.store.migrations import upgrade
from proxy.store.spool_model import SpoolState
from proxy.store.spool_store import SpoolStore
from proxy.store.spool_summary import VerdictSummary
from tests.support.proxy_fixtures import ALL_DAY
from tests.support.upstream_fixtures import RecordingHandler, Sink, run_sink

T0 = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
WORKER = "jane@example.org"
BUSY = "busy@partner.example"
GONE = "gone@partner.example"
FINE = "fine@partner.example"
SUMMARY = VerdictSummary(verdict="defer", enforced="defer", mode="enforce")


@pytest.fixture
def sink() -> Iterator[Sink]:
    handler = RecordingHandler(
        rcpt_replies={BUSY: "451 4.3.0 Try again later", GONE: "550 5.1.1 No such user"}
    )
    with run_sink(handler) as running:
        yield running


@pytest.fixture
def services(db_url: str, sink: Sink, tmp_path: Path) -> Iterator[Services]:
    settings = settings_from_mapping(
        {"agency": {"working_hours": ALL_DAY}, "hold": {"expire_days": 3}}
    )
    engine = make_engine(db_url)
    upgrade(engine)
    clock = ManualClock(T0)
    spool = SpoolStore(
        engine, MessageCipher(bytes(32)), clock=clock, expire_after=timedelta(days=3)
    )
    upstream = SmtpUpstream("127.0.0.1", sink.port, starttls="off")
    yield Services(
        settings=settings,
        clock=clock,
        db_url=db_url,
        engine=engine,
        spool=spool,
        outbound=Outbound(upstream, None, findings_header=False),
        notices=NoticeQueue(spool, settings),
        linter=None,
    )
    engine.dispose()


def submission(recipient: str, user: str = WORKER) -> Submission:
    return Submission(
        id=uuid.uuid4().hex,
        sender=WORKER,
        recipients=(recipient,),
        user=user,
        raw=(
            f"From: {WORKER}\r\nTo: {recipient}\r\nSubject: Thursday\r\n"
            "Message-ID: <sched@example.org>\r\n\r\nSee you Thursday.\r\n"
        ).encode(),
        received_at=T0,
    )


def run_at(services: Services, moment: datetime) -> int:
    """One scheduler round with the whole proxy's clock (spool, notices,
    scheduler) set to ``moment``."""
    clock = services.clock
    assert isinstance(clock, ManualClock)
    clock.now = moment
    return asyncio.run(Scheduler(services).run_once())


def notices_to(services: Services, address: str) -> list[bytes]:
    rows = services.spool.by_state([SpoolState.DEFERRED, SpoolState.SENT])
    found = []
    for row in rows:
        if row.user == "tactful" and row.recipients == (address,):
            raw = services.spool.raw(row.id)
            if raw is not None:
                found.append(raw)
    return found


def test_due_mail_goes_out_once_and_is_purged(services: Services, sink: Sink) -> None:
    job = submission(FINE)
    services.spool.defer(job, T0 + timedelta(hours=1), SUMMARY, now=T0)
    assert run_at(services, T0 + timedelta(minutes=59)) == 0
    assert run_at(services, T0 + timedelta(hours=1)) == 1
    assert run_at(services, T0 + timedelta(hours=2)) == 0
    assert [r.recipients for r in sink.received] == [[FINE]]
    row = services.spool.get(job.id)
    assert row is not None and row.state == SpoolState.SENT
    assert services.spool.raw(job.id) is None


def test_temporary_refusal_is_retried_with_back_off(services: Services, sink: Sink) -> None:
    job = submission(BUSY)
    services.spool.defer(job, T0, SUMMARY, now=T0)
    assert run_at(services, T0) == 1
    row = services.spool.get(job.id)
    assert row is not None and row.state == SpoolState.DEFERRED
    assert row.next_attempt_at == T0 + RETRY_DELAYS[0]
    assert row.last_error is not None and row.last_error.startswith("451 4.3.0")
    assert run_at(services, T0 + RETRY_DELAYS[0] - timedelta(seconds=1)) == 0
    assert run_at(services, T0 + RETRY_DELAYS[0]) == 1
    again = services.spool.get(job.id)
    assert again is not None and again.attempts == 2
    assert again.next_attempt_at == T0 + RETRY_DELAYS[0] + RETRY_DELAYS[1]
    assert services.spool.raw(job.id) is not None  # still owed, still stored
    assert sink.received == []


def test_permanent_refusal_returns_it_to_the_sender(services: Services, sink: Sink) -> None:
    job = submission(GONE)
    services.spool.defer(job, T0, SUMMARY, now=T0)
    run_at(services, T0)
    row = services.spool.get(job.id)
    assert row is not None and row.state == SpoolState.RETURNED
    assert services.spool.raw(job.id) is None
    (notice,) = notices_to(services, WORKER)
    assert b"Subject: Undeliverable, not sent:" in notice and job.id.encode() in notice


def test_expired_hold_is_returned_with_a_notice(services: Services, sink: Sink) -> None:
    job = submission(FINE)
    services.spool.hold(job, replace(SUMMARY, title="Visit on Thursday"), now=T0)
    run_at(services, T0 + timedelta(days=2))
    assert notices_to(services, WORKER) == []
    # The notice is queued and, being due, sent in the same round.
    run_at(services, T0 + timedelta(days=3, seconds=1))
    row = services.spool.get(job.id)
    assert row is not None and row.state == SpoolState.EXPIRED
    assert services.spool.raw(job.id) is None
    (notice,) = [r for r in sink.received if r.recipients == [WORKER]]
    # The content is purged; the notice still names the message by its subject.
    assert b'Subject: Expired, not sent: "Visit on Thursday"' in notice.data
    assert b'Nobody reviewed your message "Visit on Thursday" to 1 recipient within 3' in (
        notice.data
    )
    assert job.id.encode() in notice.data
    assert not [r for r in sink.received if FINE in r.recipients]


def test_a_refused_notice_does_not_breed_notices(services: Services) -> None:
    notice = submission(GONE, user="tactful")
    services.spool.defer(notice, T0, SUMMARY, now=T0)
    run_at(services, T0)
    row = services.spool.get(notice.id)
    assert row is not None and row.state == SpoolState.RETURNED
    assert notices_to(services, WORKER) == []


def test_recipients_refused_in_a_partial_delivery_are_reported(
    services: Services, sink: Sink
) -> None:
    job = submission(FINE)
    job = Submission(
        id=job.id, sender=job.sender, recipients=(FINE, GONE), user=job.user,
        raw=job.raw, received_at=job.received_at,
    )  # fmt: skip
    services.spool.defer(job, T0, SUMMARY, now=T0)
    run_at(services, T0)
    assert [r.recipients for r in sink.received] == [[FINE]]
    row = services.spool.get(job.id)
    assert row is not None and row.state == SpoolState.SENT
    assert row.last_error is not None and row.last_error.startswith("550:")
    (notice,) = notices_to(services, WORKER)
    assert b"Partly undeliverable" in notice
    assert GONE.encode() in notice and FINE.encode() not in notice.split(b"\r\n\r\n", 1)[1]


def test_a_spooled_text_is_never_mailed_when_no_sms_upstream_is_configured(
    services: Services, sink: Sink
) -> None:
    """Delivery is chosen by the channel the spool recorded, not by the
    shape of the address: without an SMS provider a text waits (and the
    log says why), it is not handed to the mail server."""
    job = replace(submission("sms:+13125550142"), channel=Channel.SMS)
    services.spool.defer(job, T0, SUMMARY, now=T0)
    assert run_at(services, T0) == 0
    assert sink.received == []
    row = services.spool.get(job.id)
    assert row is not None and row.channel is Channel.SMS
    assert row.state == SpoolState.DEFERRED and row.last_error is not None
    assert row.last_error.startswith("451")


# --- issue 13: the Part 2 notice from the spool, the retention purge ------------

TERMS = ReleaseTerms(FINE, "C-6", "Dana Ortiz, attorney", ("substance_use",),
                     "legal representation", True)  # fmt: skip
PART2 = VerdictSummary(verdict="defer", enforced="defer", mode="enforce",
                       terms=(TERMS,), part2_notice=True)  # fmt: skip


def test_scheduled_mail_goes_out_with_the_notice(services: Services, sink: Sink) -> None:
    job = submission(FINE)
    services.spool.defer(job, T0 + timedelta(hours=1), PART2, now=T0)
    assert run_at(services, T0 + timedelta(hours=1)) == 1
    (received,) = sink.received
    text = " ".join(received.data.decode().split())
    assert text.index("See you Thursday.") < text.index("This record which has been disclosed")
    assert "Dana Ortiz, attorney may receive information about substance use" in text


def test_mail_that_cannot_carry_the_notice_is_not_sent(services: Services, sink: Sink) -> None:
    job = replace(
        submission(FINE),
        raw=(
            f"From: {WORKER}\r\nTo: {FINE}\r\nSubject: Records\r\nMIME-Version: 1.0\r\n"
            "Content-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            "JVBERi0xLjQK\r\n"
        ).encode(),
    )
    services.spool.defer(job, T0 + timedelta(hours=1), PART2, now=T0)
    run_at(services, T0 + timedelta(hours=1))
    assert [r for r in sink.received if FINE in r.recipients] == []
    row = services.spool.get(job.id)
    assert row is not None and row.state == SpoolState.RETURNED
    (notice,) = notices_to(services, WORKER)
    assert b"Not sent" in notice and b"42 CFR Part 2" in notice and job.id.encode() in notice
    assert b"mail server refused" not in notice  # nobody refused it; Tactful did not send it


def test_old_disclosures_are_purged_hourly_and_audited(services: Services) -> None:
    def entry(message_id: str, years: int) -> Disclosure:
        return Disclosure(message_id, ("C-6",), FINE, "authorized", "email", (), ("CLIENT",),
                          T0.replace(year=T0.year - years) - timedelta(minutes=1))  # fmt: skip

    with session_factory(services.engine).begin() as session:
        record_all(session, [entry("seven-years", 7), entry("five-years", 5)])
    run_at(services, T0)
    assert [d.message_id for d in DisclosureLog(services.engine).for_client("C-6")] == [
        "five-years"
    ]
    (purge,) = [e for e in AuditTrail(services.engine).entries() if e.action == "disclosures.purge"]
    assert purge.details == {"deleted": 1, "retention_years": 6}
