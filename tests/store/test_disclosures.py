"""The disclosure log: what counts as a disclosure, recording it with an
audit entry (on a real SQLite file and a real PostgreSQL schema), listing
it per client, ``tactful disclosures``, and the whole path through a real
``tactful serve`` with a real upstream."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import smtplib
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from proxy.cli import main
from proxy.core.clock import ManualClock, system_clock
from proxy.core.findings import Category, Entity, Finding
from proxy.core.submission import Submission
from proxy.core.verdict import Action, Recipient, RecipientKind, RecipientVerdict, RuleHit, Verdict
from proxy.store.audit import AuditTrail
from proxy.store.crypto import MessageCipher, load_or_create_key
from proxy.store.db import make_engine, session_factory
from proxy.store.disclosures import (
    DisclosureLog,
    DisclosureRecorder,
    disclosures_for_verdict,
    record_disclosure,
    record_spooled_delivery,
)
from proxy.store.spool_decisions import Decided
from proxy.store.spool_model import SpoolState
from proxy.store.spool_store import SpoolStore
from proxy.store.spool_summary import FindingSummary, VerdictSummary, summarize
from tests.support.proxy_fixtures import WORKER, WORKER_PASSWORD, TactfulServer, example
from tests.support.upstream_fixtures import RecordingHandler, Sink, run_sink

T0 = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)
SSN = "512-44-8821"

COLLEAGUE = Recipient("colleague@agency.example", RecipientKind.INTERNAL, "email")
CLIENT = Recipient("maria@example.com", RecipientKind.CLIENT, "email", frozenset({"C-1"}))
PARENT = Recipient("dad@example.net", RecipientKind.AUTHORIZED, "email", frozenset({"C-1"}))
LANDLORD = Recipient("office@rentals.example.net", RecipientKind.EXTERNAL, "email")
TEXTED = Recipient(
    "3125550142@vtext.com", RecipientKind.CLIENT, "sms", frozenset({"C-1"}), phone="+13125550142"
)

OTHER_CLIENT = Finding(Entity.CLIENT, "body", 0, 5, 0.9, "clients", text="Kevin", client_id="C-2")
CONDITION = Finding(
    Entity.SENSITIVE_CONDITION, "body", 10, 20, 0.9, "conditions",
    text="depression", category=Category.MENTAL_HEALTH, about_person=True,
)  # fmt: skip
SSN_FINDING = Finding(Entity.US_SSN, "body", 30, 41, 0.9, "presidio", text=SSN)


def verdict(
    recipients: tuple[Recipient, ...],
    findings: tuple[Finding, ...],
    *,
    mask_ssn: bool = True,
    overridden: bool = False,
) -> Verdict:
    hits = (
        (RuleHit("financial", Action.REDACT, "Mask the number.", finding=SSN_FINDING,
                 overridden=overridden),)
        if mask_ssn and SSN_FINDING in findings else ()
    )  # fmt: skip
    return Verdict(
        verdict=Action.REDACT if hits else Action.PASS,
        enforced=Action.REDACT if hits else Action.PASS,
        mode="enforce",
        recipients=tuple(RecipientVerdict(r, Action.PASS, ()) for r in recipients),
        hits=hits,
        findings=findings,
    )



# --- what counts ----------------------------------------------------------------


def test_only_what_went_out_to_people_outside_counts() -> None:
    v = verdict(
        (COLLEAGUE, CLIENT, PARENT, LANDLORD, TEXTED), (OTHER_CLIENT, CONDITION, SSN_FINDING)
    )
    planned = {d.recipient: d for d in disclosures_for_verdict(v, "m-1", T0)}
    # No entry for the colleague; the texted client is recorded by phone number.
    assert set(planned) == {
        "maria@example.com", "dad@example.net", "office@rentals.example.net", "+13125550142",
    }  # fmt: skip
    client = planned["maria@example.com"]
    assert client.client_ids == ("C-1", "C-2")  # the recipient herself and who was mentioned
    assert client.recipient_kind == "client" and client.channel == "email"
    # The SSN was masked before sending, so it was not disclosed.
    assert client.entity_types == ("CLIENT", "SENSITIVE_CONDITION")
    assert client.categories == ("mental_health",)
    assert planned["dad@example.net"].client_ids == ("C-1", "C-2")
    landlord = planned["office@rentals.example.net"]
    assert landlord.client_ids == ("C-2",) and landlord.recipient_kind == "external"
    assert planned["+13125550142"].channel == "sms"
    assert all(d.message_id == "m-1" and d.at == T0 for d in planned.values())


def test_an_overridden_mask_means_the_value_went_out() -> None:
    v = verdict((LANDLORD,), (SSN_FINDING,), overridden=True)
    (only,) = disclosures_for_verdict(v, "m-1", T0)
    assert only.entity_types == ("US_SSN",) and only.client_ids == ()


def test_in_monitor_mode_nothing_is_masked_so_the_value_went_out() -> None:
    # The policy asked for a mask, but monitor mode caps the action at warn:
    # the act stage passes the message as written, SSN included.
    v = replace(verdict((LANDLORD,), (SSN_FINDING,)), enforced=Action.WARN, mode="monitor")
    (only,) = disclosures_for_verdict(v, "m-1", T0)
    assert only.entity_types == ("US_SSN",)


def test_nothing_about_anyone_to_an_outsider_is_no_disclosure() -> None:
    assert disclosures_for_verdict(verdict((LANDLORD, COLLEAGUE), ()), "m-1", T0) == []
    masked_only = verdict((LANDLORD,), (SSN_FINDING,))
    assert disclosures_for_verdict(masked_only, "m-1", T0) == []
    # A message to the client is about the client even with nothing found.
    (to_client,) = disclosures_for_verdict(verdict((CLIENT,), ()), "m-1", T0)
    assert to_client.client_ids == ("C-1",) and to_client.entity_types == ()


# --- recording and listing --------------------------------------------------------


def test_recorded_once_per_message_and_recipient_with_an_audit_entry(engine: Engine) -> None:
    recorder = DisclosureRecorder(engine)
    v = verdict((COLLEAGUE, CLIENT, LANDLORD), (OTHER_CLIENT, CONDITION))
    assert recorder.record("m-1", v, T0) == 2
    assert recorder.record("m-1", v, T0 + timedelta(minutes=1)) == 0  # a retried delivery
    log = DisclosureLog(engine)
    about_kevin = log.for_client("C-2")
    assert [(d.recipient, d.recipient_kind) for d in about_kevin] == [
        ("maria@example.com", "client"), ("office@rentals.example.net", "external"),
    ]  # fmt: skip
    assert about_kevin[0].at == T0 and about_kevin[0].id is not None
    assert about_kevin[0].categories == ("mental_health",)
    assert [d.recipient for d in log.for_client("C-1")] == ["maria@example.com"]
    assert log.for_client("C-3") == []
    assert len(log.for_message("m-1")) == 2
    trail = AuditTrail(engine)
    entries = trail.entries()
    assert [(e.action, e.actor, e.target, dict(e.details)) for e in entries] == [
        ("message.sent", "proxy", "m-1", {"disclosures": 2})
    ]
    assert trail.verify().ok


def test_record_disclosure_refuses_what_is_not_a_disclosure(engine: Engine) -> None:
    common = {
        "message_id": "m-1", "client_ids": ["C-1"], "recipient": "a@b.example",
        "categories": [], "entity_types": [],
    }  # fmt: skip
    with session_factory(engine).begin() as session:
        with pytest.raises(ValueError, match="not a disclosure"):
            record_disclosure(session, recipient_kind="internal", channel="email", at=T0,
                              **common)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="unknown channel"):
            record_disclosure(session, recipient_kind="external", channel="fax", at=T0,
                              **common)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="timezone-aware"):
            record_disclosure(session, recipient_kind="external", channel="email",
                              at=datetime(2026, 3, 2), **common)  # type: ignore[arg-type]
    assert DisclosureLog(engine).for_client("C-1") == []


def test_spooled_delivery_uses_the_kinds_stored_at_hold_time(engine: Engine) -> None:
    spool = SpoolStore(engine, MessageCipher(os.urandom(32)), clock=ManualClock(T0))
    v = verdict((PARENT, COLLEAGUE), (CONDITION,))
    sub = Submission(
        id=uuid.uuid4().hex, sender="worker@agency.example",
        recipients=(PARENT.address, COLLEAGUE.address), user="worker",
        raw=b"Subject: x\r\n\r\nabout depression\r\n", received_at=T0,
    )  # fmt: skip
    spool.hold(sub, summarize(v), now=T0)
    assert isinstance(spool.release(sub.id, "sam", "ok", now=T0), Decided)
    message = spool.get(sub.id)
    assert message is not None
    assert record_spooled_delivery(engine, message, T0 + timedelta(minutes=5)) == 1
    assert record_spooled_delivery(engine, message, T0 + timedelta(minutes=6)) == 0
    (entry,) = DisclosureLog(engine).for_client("C-1")
    assert (entry.recipient, entry.recipient_kind) == (PARENT.address, "authorized")
    assert entry.entity_types == ("SENSITIVE_CONDITION",)
    assert entry.at == T0 + timedelta(minutes=5)
    actions = [(e.action, e.actor) for e in AuditTrail(engine).entries()]
    assert actions == [("message.release", "sam"), ("message.sent", "scheduler")]


def test_a_spooled_text_is_recorded_as_a_text_to_the_client(engine: Engine) -> None:
    """The SMS API judges "+E164" but spools to "sms:+E164"; the log must
    still know it was the client, by text."""
    spool = SpoolStore(engine, MessageCipher(os.urandom(32)), clock=ManualClock(T0))
    texted = Recipient("+13125550142", RecipientKind.CLIENT, "sms", frozenset({"C-1"}))
    sub = Submission(
        id=uuid.uuid4().hex, sender="worker@agency.example",
        recipients=("sms:+13125550142",), user="worker",
        raw=b"Subject: x\r\n\r\nabout depression\r\n", received_at=T0,
    )  # fmt: skip
    message = spool.defer(sub, T0, summarize(verdict((texted,), (CONDITION,))), now=T0)
    assert record_spooled_delivery(engine, message, T0) == 1
    (entry,) = DisclosureLog(engine).for_client("C-1")
    assert (entry.recipient, entry.recipient_kind, entry.channel) == (
        "+13125550142", "client", "sms",
    )  # fmt: skip


def test_a_spooled_message_without_recipient_kinds_counts_as_external(engine: Engine) -> None:
    """Rows stored before summaries carried recipients: one entry too many
    rather than one too few."""
    spool = SpoolStore(engine, MessageCipher(os.urandom(32)), clock=ManualClock(T0))
    legacy = VerdictSummary(
        verdict="hold", enforced="hold", mode="enforce",
        findings=(FindingSummary(entity="CLIENT", location="body", client_id="C-7"),),
    )  # fmt: skip
    sub = Submission(
        id=uuid.uuid4().hex, sender="w@agency.example", recipients=("x@elsewhere.example",),
        user="w", raw=b"\r\n", received_at=T0,
    )  # fmt: skip
    message = spool.hold(sub, legacy, now=T0)
    assert record_spooled_delivery(engine, message, T0) == 1
    (entry,) = DisclosureLog(engine).for_client("C-7")
    assert (entry.recipient, entry.recipient_kind, entry.channel) == (
        "x@elsewhere.example", "external", "email",
    )  # fmt: skip


def test_the_async_recorder_logs_a_failure_without_client_data(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = DisclosureRecorder(engine)
    v = verdict((LANDLORD,), (OTHER_CLIENT,))
    asyncio.run(recorder.delivered("m-ok", v, T0))
    assert [d.message_id for d in DisclosureLog(engine).for_client("C-2")] == ["m-ok"]
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE disclosure_client"))
    with caplog.at_level(logging.ERROR, logger="proxy.store.disclosures"):
        asyncio.run(recorder.delivered("m-lost", v, T0))  # must not raise
    assert "disclosure for m-lost not recorded" in caplog.text
    assert "rentals" not in caplog.text and "Kevin" not in caplog.text


# --- tactful disclosures ------------------------------------------------------------


def test_cli_lists_a_clients_disclosures(
    db_url: str, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    DisclosureRecorder(engine).record(
        "m-1", verdict((CLIENT, LANDLORD), (OTHER_CLIENT, CONDITION)), T0
    )
    assert main(["disclosures", "C-2", "--db", db_url]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "2 disclosure(s) for client C-2:"
    assert out[1].split() == [
        "WHEN", "TO", "WHO", "BY", "WHAT", "PURPOSE", "REVIEWED", "PART2", "MESSAGE"
    ]
    landlord = next(line for line in out if "office@rentals.example.net" in line)
    assert "outside the agency" in landlord and "email" in landlord
    assert "mental health" in landlord and "sensitive health or legal detail" in landlord
    client = next(line for line in out if "maria@example.com" in line)
    assert "also about C-1" in client
    assert main(["disclosures", "C-2", "--json", "--db", db_url]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(d["recipient"], d["recipient_kind"], d["channel"]) for d in listed] == [
        ("maria@example.com", "client", "email"),
        ("office@rentals.example.net", "external", "email"),
    ]
    assert listed[0]["client_ids"] == ["C-1", "C-2"]
    assert listed[1]["entity_types"] == ["CLIENT", "SENSITIVE_CONDITION"]
    assert listed[1]["categories"] == ["mental_health"]
    assert listed[1]["at"] == T0.isoformat() and listed[1]["message_id"] == "m-1"


def test_cli_no_disclosures_and_usage_errors(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["disclosures", "C-9", "--db", db_url]) == 0
    assert "No disclosures recorded for client C-9." in capsys.readouterr().out
    assert main(["disclosures", "C-9", "--json", "--db", db_url]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["disclosures", " ", "--db", db_url]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["disclosures", "--db", db_url])
    assert exc.value.code == 2


# --- through a real tactful serve ------------------------------------------------------


@pytest.fixture(scope="module")
def upstream() -> Iterator[Sink]:
    with run_sink(RecordingHandler()) as sink:
        yield sink


def submit(server: TactfulServer, raw: bytes, recipients: list[str]) -> str:
    with smtplib.SMTP("127.0.0.1", server.port, timeout=120) as client:
        client.login(WORKER, WORKER_PASSWORD)
        client.mail(WORKER)
        for rcpt in recipients:
            assert client.rcpt(rcpt)[0] == 250
        code, reply = client.data(raw)
    assert code == 250, reply
    return reply.decode()


def wait_until(condition: object, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


@pytest.mark.e2e  # the shipped `tactful serve` in a subprocess
@pytest.mark.timeout(600)
def test_delivered_and_released_mail_is_accounted_for(
    tmp_path: Path, upstream: Sink, capsys: pytest.CaptureFixture[str]
) -> None:
    server = TactfulServer(
        home=tmp_path, upstream=f"127.0.0.1:{upstream.port}",
        db_url=f"sqlite:///{tmp_path / 'tactful.db'}",
    )  # fmt: skip
    server.prepare()
    server.start()
    try:
        # Passed with the SSN masked, straight to the client (C-1005).
        submit(server, example("03-ssn-client-redact.eml"), ["rosa.diaz@example.com"])
        # Held: a client's mental health to a landlord; a reviewer releases it.
        reply = submit(server, example("06-condition-external.eml"), ["office@rentals.example.net"])
        ref = re.search(r"reference ([0-9a-f]{32})", reply)
        assert ref, reply
        engine = make_engine(server.db_url)
        # The server's own clock: this spool shares its database.
        key = load_or_create_key(server.settings().hold)
        spool = SpoolStore(engine, MessageCipher(key), clock=system_clock)
        assert isinstance(spool.release(ref.group(1), "sam@example.org", "landlord needs it"),
                          Decided)  # fmt: skip
        log = DisclosureLog(engine)
        assert wait_until(lambda: len(log.for_client("C-1005")) == 2), log.for_client("C-1005")
        sent = spool.get(ref.group(1))
        assert sent is not None and sent.state == SpoolState.SENT
        engine.dispose()
    finally:
        server.stop()
    assert "Traceback" not in server.log_text()
    db = ["--db", server.db_url]
    assert main(["disclosures", "C-1005", "--json", *db]) == 0
    listed = {d["recipient"]: d for d in json.loads(capsys.readouterr().out)}
    assert set(listed) == {"rosa.diaz@example.com", "office@rentals.example.net"}
    to_client = listed["rosa.diaz@example.com"]
    assert to_client["recipient_kind"] == "client" and "US_SSN" not in to_client["entity_types"]
    landlord = listed["office@rentals.example.net"]
    assert landlord["recipient_kind"] == "external" and landlord["message_id"] == ref.group(1)
    assert "mental_health" in landlord["categories"]
    assert "SENSITIVE_CONDITION" in landlord["entity_types"]

    assert main(["audit", "verify", *db]) == 0
    capsys.readouterr()
    assert main(["audit", "list", "--json", *db]) == 0
    entries = json.loads(capsys.readouterr().out)
    actions = [(e["action"], e["target"]) for e in entries]
    assert ("message.release", ref.group(1)) in actions
    assert ("message.sent", ref.group(1)) in actions
    assert sum(1 for action, _ in actions if action == "message.sent") == 2
    everything = json.dumps(entries)
    for secret in ("landlord needs it", "rentals", "rosa", "Rosa", "Diaz", SSN, "bipolar"):
        assert secret not in everything
