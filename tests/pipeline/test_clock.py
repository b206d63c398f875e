"""One clock: nothing in the application reads the system time for a
decision, and the decisions that depend on the time are right at the
awkward moments (a Friday at 18:00, a holiday, the nights the clocks
change, a weekend, quiet hours past midnight), whatever day the suite
itself runs on."""

from __future__ import annotations

import ast
import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from proxy.core.clock import ManualClock
from proxy.core.config import settings_from_mapping
from proxy.core.consent import Channel, Registry
from proxy.core.submission import Submission
from proxy.core.verdict import Action
from proxy.lint.engine import LintEngine, LintResult
from proxy.lint.rules import QUIET_HOURS
from proxy.outbound.relay import SmtpUpstream
from proxy.pipeline.act import Pipeline
from proxy.pipeline.analysis_pool import AnalysisFailure
from proxy.pipeline.forward import EmailForwarder, Outbound
from proxy.pipeline.notice_queue import NoticeQueue
from proxy.pipeline.scheduler import Scheduler
from proxy.pipeline.services import Services
from proxy.smtp.replies import PipelineProcessor
from proxy.store.consent_csv import read_consent_csv
from proxy.store.crypto import MessageCipher
from proxy.store.db import make_engine
from proxy.store.migrations import upgrade
from proxy.store.spool_model import SpoolState
from proxy.store.spool_store import SpoolStore
from tests.support.proxy_fixtures import ALL_DAY, CONSENT_CSV
from tests.support.upstream_fixtures import Sink, run_sink

REPO = Path(__file__).resolve().parents[2]
CHICAGO = ZoneInfo("America/Chicago")
WORKER = "jane@example.org"
CLIENT = "rosa.diaz@example.com"  # C-1005: email consent, no expiry
TEXTED = "3125550142@vtext.com"  # C-1001 (Maria) by the email-to-SMS gateway


def chicago(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=CHICAGO)


# --- nothing reads the wall clock behind the clock's back ---------------------

# (module, name) pairs that read the system time; a log line's timestamp
# would be fine, but nothing in proxy/ or detectors/ needs one today.
WALL_CLOCK_READS = {
    ("datetime", "now"),
    ("datetime", "utcnow"),
    ("datetime", "today"),
    ("date", "today"),
    ("time", "time"),
    ("time", "time_ns"),
    ("time", "localtime"),
    ("time", "gmtime"),
    ("time", "ctime"),
    ("time", "asctime"),
    ("time", "strftime"),
}
# Only the clock itself reads the system time; only composition roots
# (which build the one clock) and the registry's change stamp name it.
ALLOWED_READERS = {"proxy/core/clock.py"}
SYSTEM_CLOCK_USERS = {"proxy/core/clock.py", "proxy/app/server.py"}
SYSTEM_CLOCK_USER_DIRS = ("proxy/cli/",)
CHANGE_STAMP_USERS = {
    "proxy/core/clock.py", "proxy/store/consent_store.py", "proxy/sms/keywords.py",
}  # fmt: skip


def _wall_clock_reads(tree: ast.AST) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            base = node.value
            name = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", None)
            if (name, node.attr) in WALL_CLOCK_READS:
                found.append((node.lineno, f"{name}.{node.attr}"))
        elif isinstance(node, ast.ImportFrom) and node.module in ("time", "datetime"):
            for alias in node.names:
                if (node.module, alias.name) in WALL_CLOCK_READS:
                    found.append((node.lineno, f"from {node.module} import {alias.name}"))
    return found


def _names(tree: ast.AST, wanted: str) -> list[int]:
    return [
        node.lineno
        for node in ast.walk(tree)
        if (isinstance(node, ast.Name) and node.id == wanted)
        or (isinstance(node, ast.alias) and node.name == wanted)
        or (isinstance(node, ast.Attribute) and node.attr == wanted)
    ]


def _sources() -> Iterator[tuple[str, ast.AST]]:
    for folder in ("proxy", "detectors"):
        for path in sorted((REPO / folder).rglob("*.py")):
            relative = path.relative_to(REPO).as_posix()
            yield relative, ast.parse(path.read_text(encoding="utf-8"), filename=relative)


def test_only_the_clock_reads_the_system_time() -> None:
    offenders = [
        f"{path}:{line}: {what}"
        for path, tree in _sources()
        if path not in ALLOWED_READERS
        for line, what in _wall_clock_reads(tree)
    ]
    hint = "take the time from the injected clock (proxy.core.clock):\n"
    assert offenders == [], hint + "\n".join(offenders)


def test_only_composition_roots_pick_the_system_clock() -> None:
    offenders = []
    for path, tree in _sources():
        if path in SYSTEM_CLOCK_USERS or path.startswith(SYSTEM_CLOCK_USER_DIRS):
            continue
        offenders += [f"{path}:{line}: system_clock" for line in _names(tree, "system_clock")]
        if path not in CHANGE_STAMP_USERS:
            offenders += [f"{path}:{line}: change_stamp" for line in _names(tree, "change_stamp")]
    assert offenders == [], "receive the clock from the caller:\n" + "\n".join(offenders)


def test_the_checks_would_see_a_wall_clock_read() -> None:
    """The scan above must be able to fail: each form it looks for is found."""
    sample = ast.parse(
        "import time, datetime as dt\nfrom datetime import date, datetime\n"
        "from time import time as now\n"
        "a = datetime.now(UTC)\nb = dt.datetime.utcnow()\nc = date.today()\nd = time.time()\n"
        "e = default or datetime.now\n"
    )
    found = {what for _, what in _wall_clock_reads(sample)}
    assert found == {
        "datetime.now", "datetime.utcnow", "date.today", "time.time", "from time import time",
    }  # fmt: skip
    assert _names(ast.parse("clock = system_clock\n"), "system_clock") == [1]


def test_a_manual_clock_needs_a_zone_and_keeps_utc() -> None:
    with pytest.raises(ValueError, match="time zone"):
        ManualClock(datetime(2026, 12, 5, 23, 30))
    clock = ManualClock(chicago(2026, 12, 5, 23, 30))
    assert clock() == datetime(2026, 12, 6, 5, 30, tzinfo=UTC)
    assert clock.advance(timedelta(minutes=45)) == datetime(2026, 12, 6, 6, 15, tzinfo=UTC)


# --- the email pipeline at awkward moments ------------------------------------


class ThreadLinter:
    def __init__(self, engine: LintEngine) -> None:
        self.engine = engine

    async def lint(self, raw: bytes, **kwargs: Any) -> LintResult | AnalysisFailure:
        return await asyncio.to_thread(self.engine.lint, raw, **kwargs)


@dataclass
class Office:
    clock: ManualClock
    services: Services
    pipeline: PipelineProcessor
    sink: Sink

    def send(self, to: str, body: str = "See you tomorrow at 9am at the office.") -> Submission:
        job = Submission(
            id=uuid.uuid4().hex,
            sender=WORKER,
            recipients=(to,),
            user=WORKER,
            raw=(
                f"From: Jane Worker <{WORKER}>\r\nTo: {to}\r\nSubject: Tomorrow\r\n"
                f"Message-ID: <{uuid.uuid4().hex}@example.org>\r\n\r\n{body}\r\n"
            ).encode(),
            received_at=self.clock(),
        )
        reply = asyncio.run(self.pipeline.process(job))
        assert reply.code == 250, str(reply)
        return job

    def scheduler_round(self) -> int:
        return asyncio.run(Scheduler(self.services).run_once())

    def delivered_to(self, address: str) -> list[bytes]:
        return [r.data for r in self.sink.received if address in r.recipients]


@pytest.fixture
def office(tmp_path: Path, nlp_service: Any) -> Iterator[Office]:
    """The shipped working hours (Mon-Fri 08:00-18:00, Chicago) with a
    holiday on Christmas Day 2026, a three-day hold expiry, and one clock."""
    settings = settings_from_mapping(
        {"agency": {"holidays": ["2026-12-25"]}, "hold": {"expire_days": 3}}
    )
    clock = ManualClock(chicago(2026, 12, 4, 12, 0))
    engine = make_engine(f"sqlite:///{tmp_path / 'tactful.db'}")
    upgrade(engine)
    spool = SpoolStore(engine, MessageCipher(bytes(32)), clock=clock,
                       expire_after=timedelta(days=3))  # fmt: skip
    with run_sink() as sink:
        outbound = Outbound(SmtpUpstream("127.0.0.1", sink.port, starttls="off"), None, False)
        notices = NoticeQueue(spool, settings)
        lint = LintEngine(settings, Registry(read_consent_csv(CONSENT_CSV)), nlp=nlp_service)
        services = Services(settings=settings, clock=clock, db_url="", engine=engine,
                            spool=spool, outbound=outbound, notices=notices,
                            linter=ThreadLinter(lint))  # fmt: skip
        pipeline = Pipeline(settings=settings, clock=clock, linter=services.linter,
                            forwarders={Channel.EMAIL: EmailForwarder(outbound)},
                            spool=spool, notices=notices)  # fmt: skip
        yield Office(clock, services, PipelineProcessor(pipeline, settings.agency.tz), sink)
    engine.dispose()


def test_friday_1759_goes_out_and_1801_waits_for_monday(office: Office) -> None:
    office.clock.now = chicago(2026, 12, 4, 17, 59)
    sent = office.send(CLIENT)
    assert len(office.delivered_to(CLIENT)) == 1
    assert office.services.spool.get(sent.id) is None

    office.clock.now = chicago(2026, 12, 4, 18, 1)
    waiting = office.send(CLIENT)
    row = office.services.spool.get(waiting.id)
    assert row is not None and row.state is SpoolState.DEFERRED
    assert row.release_after == chicago(2026, 12, 7, 8, 0)  # Monday, start of work
    assert len(office.delivered_to(CLIENT)) == 1

    # The weekend passes with nothing sent; Monday 08:00 it goes.
    for moment in (chicago(2026, 12, 5, 23, 30), chicago(2026, 12, 7, 7, 59)):
        office.clock.now = moment
        office.scheduler_round()
        assert len(office.delivered_to(CLIENT)) == 1
    office.clock.now = chicago(2026, 12, 7, 8, 0)
    office.scheduler_round()
    assert len(office.delivered_to(CLIENT)) == 2
    row = office.services.spool.get(waiting.id)
    assert row is not None and row.state is SpoolState.SENT


def test_mail_to_a_client_on_a_holiday_waits_for_the_next_working_day(office: Office) -> None:
    office.clock.now = chicago(2026, 12, 25, 10, 0)  # a Friday, and Christmas Day
    job = office.send(CLIENT)
    row = office.services.spool.get(job.id)
    assert row is not None and row.state is SpoolState.DEFERRED
    assert row.release_after == chicago(2026, 12, 28, 8, 0)
    assert office.delivered_to(CLIENT) == []


def test_colleagues_mail_is_not_held_back_at_night(office: Office) -> None:
    office.clock.now = chicago(2026, 12, 5, 23, 30)  # Saturday night
    office.send("sam@example.org")
    assert len(office.delivered_to("sam@example.org")) == 1


@pytest.mark.parametrize(
    ("sent_at", "opens_utc"),
    [
        # Saturday night before the clocks go forward: Monday 08:00 is CDT (UTC-5).
        (chicago(2027, 3, 13, 23, 30), datetime(2027, 3, 15, 13, 0, tzinfo=UTC)),
        # 08:30 on the Sunday morning they went forward.
        (chicago(2027, 3, 14, 8, 30), datetime(2027, 3, 15, 13, 0, tzinfo=UTC)),
        # Friday evening before they go back: Monday 08:00 is CST (UTC-6).
        (chicago(2026, 10, 30, 18, 30), datetime(2026, 11, 2, 14, 0, tzinfo=UTC)),
        # 01:30 on the Sunday they went back (the hour that happens twice).
        (datetime(2026, 11, 1, 7, 30, tzinfo=UTC), datetime(2026, 11, 2, 14, 0, tzinfo=UTC)),
    ],
    ids=["spring-saturday-night", "spring-sunday-morning", "fall-friday", "fall-repeated-hour"],
)
def test_a_deferral_across_a_clock_change_opens_at_local_0800(
    office: Office, sent_at: datetime, opens_utc: datetime
) -> None:
    office.clock.now = sent_at
    job = office.send(CLIENT)
    row = office.services.spool.get(job.id)
    assert row is not None and row.release_after == opens_utc
    assert row.release_after is not None
    assert row.release_after.astimezone(CHICAGO).hour == 8
    office.clock.now = opens_utc - timedelta(seconds=1)
    office.scheduler_round()
    assert office.delivered_to(CLIENT) == []
    office.clock.now = opens_utc
    office.scheduler_round()
    assert len(office.delivered_to(CLIENT)) == 1


def test_a_hold_expires_over_the_weekend_and_the_sender_is_told(office: Office) -> None:
    office.clock.now = chicago(2026, 12, 4, 17, 0)  # Friday afternoon
    job = office.send("office@rentals.example.net", "Maria Lopez, DOB 04/12/1988, is our client.")
    row = office.services.spool.get(job.id)
    assert row is not None and row.state is SpoolState.HELD
    assert row.expires_at == chicago(2026, 12, 7, 17, 0)
    for moment in (chicago(2026, 12, 5, 23, 30), chicago(2026, 12, 7, 16, 59)):
        office.clock.now = moment
        office.scheduler_round()
        row = office.services.spool.get(job.id)
        assert row is not None and row.state is SpoolState.HELD
    office.clock.now = chicago(2026, 12, 7, 17, 0) + timedelta(seconds=1)
    office.scheduler_round()
    row = office.services.spool.get(job.id)
    assert row is not None and row.state is SpoolState.EXPIRED
    assert office.services.spool.raw(job.id) is None
    notices = office.delivered_to(WORKER)
    # Named by its subject although the content is gone.
    assert any(b'Subject: Expired, not sent: "Tomorrow"' in n for n in notices), notices
    assert office.delivered_to("office@rentals.example.net") == []


# --- texts: quiet hours past midnight -----------------------------------------


@pytest.fixture(scope="module")
def lint_engine(nlp_service: Any) -> LintEngine:
    """Working every hour of every day, so only the quiet hours (20:00 to
    08:00, the shipped default) hold a text back."""
    settings = settings_from_mapping({"agency": {"working_hours": ALL_DAY, "holidays": []}})
    return LintEngine(settings, Registry(read_consent_csv(CONSENT_CSV)), nlp=nlp_service)


def _text(engine: LintEngine, at: datetime) -> LintResult:
    raw = (
        f"From: {WORKER}\r\nTo: {TEXTED}\r\nSubject: \r\n\r\nSee you at 9.\r\n"
    ).encode()
    return engine.lint(raw, sender=WORKER, recipients=(TEXTED,), at=at)


@pytest.mark.parametrize(
    ("at", "until"),
    [
        (chicago(2026, 12, 5, 23, 30), chicago(2026, 12, 6, 8, 0)),  # Saturday 23:30
        (chicago(2026, 12, 6, 0, 1), chicago(2026, 12, 6, 8, 0)),  # just past midnight
        (chicago(2027, 3, 13, 21, 0), chicago(2027, 3, 14, 8, 0)),  # the night of the change
        (chicago(2027, 3, 14, 3, 30), chicago(2027, 3, 14, 8, 0)),  # just after 02:00 vanished
    ],
    ids=["saturday-2330", "sunday-0001", "spring-evening", "spring-0330"],
)
def test_a_text_in_quiet_hours_waits_until_0800_local(
    lint_engine: LintEngine, at: datetime, until: datetime
) -> None:
    verdict = _text(lint_engine, at).verdict
    quiet = [h for h in verdict.hits if h.rule == QUIET_HOURS]
    assert quiet, [h.rule for h in verdict.hits]
    assert verdict.enforced is Action.DEFER
    assert verdict.defer_until == until


def test_a_text_at_0800_is_not_in_quiet_hours(lint_engine: LintEngine) -> None:
    verdict = _text(lint_engine, chicago(2026, 12, 7, 8, 0)).verdict  # Monday
    assert not [h for h in verdict.hits if h.rule == QUIET_HOURS]
