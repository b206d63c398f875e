"""The audit trail on a real SQLite file and (when TACTFUL_TEST_DATABASE_URL
is set) a real PostgreSQL schema: the hash chain, tamper detection, the
append-only triggers, concurrent writers, the decisions and consent changes
that write to it in their own transaction, and ``tactful audit``."""

from __future__ import annotations

import io
import itertools
import json
import os
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import DBAPIError

from proxy.cli import main
from proxy.core.clock import ManualClock
from proxy.core.submission import Submission
from proxy.store.audit import AuditError, AuditTrail, entry_hash, record
from proxy.store.audit_model import GENESIS_HASH, AuditEntryRow
from proxy.store.consent_csv import read_consent_csv
from proxy.store.consent_store import ConsentStore
from proxy.store.crypto import MessageCipher
from proxy.store.db import make_engine, session_factory
from proxy.store.spool_decisions import AlreadyDecided, Decided
from proxy.store.spool_model import SpoolRow
from proxy.store.spool_store import SpoolStore
from proxy.store.spool_summary import FindingSummary, VerdictSummary

T0 = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)
REASON = "Maria Lopez's mother asked for it"  # free text naming a client
SUMMARY = VerdictSummary(
    verdict="hold",
    enforced="hold",
    mode="enforce",
    findings=(FindingSummary(entity="DATE_OF_BIRTH", location="body"),),
)
CONSENT_HEADER = (
    "client_id,name,aliases,address,channel,relationship,status,granted_on,expires_on,"
    "preferred,identifiers,notes"
)
CONSENT_ROW = (
    "C-1001,Maria Lopez,,maria.lopez@example.com,email,self,granted,2025-09-01,,no,,"
    "Prefers email"
)


# When the example registry was imported: a fixed moment, whatever today is.
IMPORTED = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def trail(engine: Engine) -> AuditTrail:
    return AuditTrail(engine)


@pytest.fixture
def spool(engine: Engine) -> SpoolStore:
    return SpoolStore(engine, MessageCipher(os.urandom(32)), clock=ManualClock(T0))


def fill(trail: AuditTrail, count: int = 5) -> None:
    for n in range(count):
        trail.record(
            actor="sam@example.org",
            action="message.view",
            target=f"msg-{n + 1}",
            details={"reason_given": True, "n": n + 1},
            at=T0 + timedelta(minutes=n),
        )


def tamper(engine: Engine, *statements: str) -> None:
    """Change the table the way an intruder with database access would:
    switch the append-only triggers off first."""
    with engine.begin() as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            connection.execute(text("ALTER TABLE audit_entry DISABLE TRIGGER USER"))
            connection.execute(text("ALTER TABLE audit_head DISABLE TRIGGER USER"))
        else:
            for trigger in (
                "audit_entry_no_update",
                "audit_entry_no_delete",
                "audit_head_no_delete",
                "audit_head_forward",
            ):
                connection.execute(text(f"DROP TRIGGER {trigger}"))
        for statement in statements:
            connection.execute(text(statement))
        if postgres:
            connection.execute(text("ALTER TABLE audit_entry ENABLE TRIGGER USER"))
            connection.execute(text("ALTER TABLE audit_head ENABLE TRIGGER USER"))


def audit_rows(engine: Engine) -> list[AuditEntryRow]:
    with session_factory(engine)() as session:
        return list(session.scalars(select(AuditEntryRow).order_by(AuditEntryRow.seq)))


def held(spool: SpoolStore) -> str:
    sub = Submission(
        id=uuid.uuid4().hex,
        sender="worker@agency.example",
        recipients=("intake@partner.example.net",),
        user="worker",
        raw=b"From: worker@agency.example\r\n\r\nMaria Lopez DOB 04/12/1987\r\n",
        received_at=T0,
    )
    spool.hold(sub, SUMMARY, now=T0)
    return sub.id


# --- the chain ----------------------------------------------------------------


def test_entries_form_a_chain_and_verify_accepts_it(trail: AuditTrail) -> None:
    empty = trail.verify()
    assert empty.ok and empty.checked == 0 and empty.head_hash == GENESIS_HASH
    fill(trail, 5)
    entries = trail.entries()
    assert [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert entries[0].prev_hash == GENESIS_HASH
    for before, after in itertools.pairwise(entries):
        assert after.prev_hash == before.hash
    third = entries[2]
    assert third.at == T0 + timedelta(minutes=2)
    assert third.details == {"reason_given": True, "n": 3}
    assert third.hash == entry_hash(
        seq=3, at=third.at, actor=third.actor, action=third.action, target=third.target,
        details=third.details, prev_hash=third.prev_hash,
    )  # fmt: skip
    report = trail.verify()
    assert report.ok and report.checked == 5 and report.problem is None
    assert report.head_seq == 5 and report.head_hash == entries[-1].hash
    assert [e.seq for e in trail.entries(limit=2)] == [4, 5]


def test_an_entry_rolls_back_with_the_callers_transaction(
    engine: Engine, trail: AuditTrail
) -> None:
    sessions = session_factory(engine)
    with sessions() as session, session.begin():
        record(session, actor="sam", action="message.view", target="m-1", at=T0)
        session.rollback()
    assert trail.entries() == []
    trail.record(actor="sam", action="message.view", target="m-2", at=T0)
    assert [(e.seq, e.target) for e in trail.entries()] == [(1, "m-2")]
    assert trail.verify().ok


@pytest.mark.parametrize(
    ("kwargs", "complaint"),
    [
        ({"details": {"reason": "the client's mother asked"}}, "free text"),
        ({"details": {"body": "x"}}, "free text"),
        ({"details": {"score": 0.5}}, "whole number"),
        ({"details": {"note_given": "line one\nline two"}}, "one line"),
        ({"details": {"Bad Key": True}}, "snake_case"),
        ({"action": "Release"}, "dotted"),
        ({"actor": ""}, "actor"),
        ({"target": "x" * 201}, "target"),
    ],
)
def test_bad_entries_are_refused_with_a_reason(
    trail: AuditTrail, kwargs: dict[str, object], complaint: str
) -> None:
    entry: dict[str, object] = {
        "actor": "sam", "action": "message.view", "target": "m-1", "at": T0,
    }  # fmt: skip
    entry.update(kwargs)
    with pytest.raises(ValueError, match=complaint):
        trail.record(**entry)  # type: ignore[arg-type]
    assert trail.entries() == []


def test_an_unmigrated_database_is_a_clear_error(tmp_path: object) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/bare.db")
    from proxy.store.audit_model import AuditHeadRow

    AuditHeadRow.__table__.create(engine)  # type: ignore[attr-defined]
    AuditEntryRow.__table__.create(engine)  # type: ignore[attr-defined]
    with pytest.raises(AuditError, match="tactful db upgrade"):
        AuditTrail(engine).record(actor="sam", action="message.view", at=T0)
    engine.dispose()


# --- append-only and tamper detection -----------------------------------------


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_entry SET actor = 'mallory' WHERE seq = 2",
        "DELETE FROM audit_entry WHERE seq = 2",
        "DELETE FROM audit_head",
        "UPDATE audit_head SET seq = 1",
    ],
)
def test_the_database_refuses_to_rewrite_history(
    engine: Engine, trail: AuditTrail, statement: str
) -> None:
    fill(trail, 3)
    with pytest.raises(DBAPIError, match=r"append-only|backwards"), engine.begin() as c:
        c.execute(text(statement))
    assert [e.actor for e in trail.entries()] == ["sam@example.org"] * 3
    assert trail.verify().ok


def test_altered_details_are_detected(engine: Engine, trail: AuditTrail) -> None:
    fill(trail, 5)
    tamper(engine, """UPDATE audit_entry SET details = '{"reason_given": false, "n": 3}'
                      WHERE seq = 3""")
    report = trail.verify()
    assert not report.ok
    assert report.first_broken == 3 and report.problem == "entry 3 was altered"
    assert report.checked == 2


def test_altered_actor_or_time_is_detected(engine: Engine, trail: AuditTrail) -> None:
    fill(trail, 5)
    tamper(engine, "UPDATE audit_entry SET actor = 'someone-else' WHERE seq = 4")
    assert trail.verify().problem == "entry 4 was altered"


def test_a_removed_middle_entry_is_detected(engine: Engine, trail: AuditTrail) -> None:
    fill(trail, 5)
    tamper(engine, "DELETE FROM audit_entry WHERE seq = 3")
    report = trail.verify()
    assert not report.ok and report.first_broken == 3
    assert report.problem == "entry 3 is missing"


def test_removed_entries_at_the_end_are_detected(engine: Engine, trail: AuditTrail) -> None:
    fill(trail, 5)
    tamper(engine, "DELETE FROM audit_entry WHERE seq >= 4")
    report = trail.verify()
    assert not report.ok and report.first_broken == 4
    assert report.problem == "entries 4 to 5 are missing"


def test_reordered_entries_are_detected(engine: Engine, trail: AuditTrail) -> None:
    fill(trail, 5)
    tamper(
        engine,
        "UPDATE audit_entry SET seq = 100 WHERE seq = 2",
        "UPDATE audit_entry SET seq = 2 WHERE seq = 3",
        "UPDATE audit_entry SET seq = 3 WHERE seq = 100",
    )
    report = trail.verify()
    assert not report.ok and report.first_broken == 2
    assert report.problem == "entry 2 was altered"


def test_a_rewritten_entry_with_a_fresh_hash_is_detected(
    engine: Engine, trail: AuditTrail
) -> None:
    """A careful intruder recomputes the altered entry's own hash; the next
    entry still points at the old one."""
    fill(trail, 5)
    row = audit_rows(engine)[1]
    forged = entry_hash(
        seq=row.seq, at=row.at, actor="someone-else", action=row.action, target=row.target,
        details=row.details, prev_hash=row.prev_hash,
    )  # fmt: skip
    tamper(engine, f"UPDATE audit_entry SET actor = 'someone-else', hash = '{forged}' "
                   "WHERE seq = 2")  # fmt: skip
    report = trail.verify()
    assert not report.ok and report.first_broken == 2
    assert report.problem is not None and report.problem.startswith("entry 2 was altered")


def test_an_entry_slipped_in_beyond_the_head_is_detected(
    engine: Engine, trail: AuditTrail
) -> None:
    fill(trail, 2)
    last = audit_rows(engine)[-1]
    forged = entry_hash(
        seq=3, at=T0, actor="mallory", action="message.view", target="x", details={},
        prev_hash=last.hash,
    )  # fmt: skip
    with engine.begin() as connection:
        connection.execute(
            AuditEntryRow.__table__.insert().values(  # type: ignore[attr-defined]
                seq=3, at=T0, actor="mallory", action="message.view", target="x",
                details={}, prev_hash=last.hash, hash=forged,
            )
        )  # fmt: skip
    report = trail.verify()
    assert not report.ok and report.first_broken == 3
    assert report.problem is not None and "outside Tactful" in report.problem


# --- concurrency --------------------------------------------------------------


def test_concurrent_writers_keep_one_chain(engine: Engine) -> None:
    """Eight threads, each with its own connection, append at once (on
    PostgreSQL these are truly concurrent transactions); no sequence number
    is handed out twice and the chain never forks."""
    writers, each = 8, 25
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write(n: int) -> None:
        trail = AuditTrail(engine)
        barrier.wait()
        try:
            for i in range(each):
                trail.record(
                    actor=f"writer-{n}", action="message.view", target=f"{n}-{i}", at=T0
                )
        except BaseException as exc:  # reported below, with the others
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    trail = AuditTrail(engine)
    entries = trail.entries()
    assert [e.seq for e in entries] == list(range(1, writers * each + 1))
    assert len({e.target for e in entries}) == writers * each
    report = trail.verify()
    assert report.ok and report.checked == writers * each


# --- decisions and consent changes write to it ---------------------------------


@pytest.mark.parametrize(
    ("decide", "action"),
    [
        (lambda s, m: s.release(m, "sam@example.org", REASON, now=T0), "message.release"),
        (lambda s, m: s.reject(m, "sam@example.org", REASON, now=T0), "message.return"),
        (lambda s, m: s.delete(m, "sam@example.org", REASON, now=T0), "message.delete"),
        (lambda s, m: s.cancel(m, "sam@example.org", now=T0), "message.cancel"),
    ],
)
def test_each_decision_writes_one_entry_without_the_reason(
    spool: SpoolStore, trail: AuditTrail, decide: object, action: str
) -> None:
    message_id = held(spool)
    result = decide(spool, message_id)  # type: ignore[operator]
    assert isinstance(result, Decided)
    entries = trail.entries()
    assert [(e.action, e.actor, e.target, e.at) for e in entries] == [
        (action, "sam@example.org", message_id, T0)
    ]
    assert entries[0].details["reason_given"] is True
    dumped = json.dumps([e.details for e in entries])
    assert "Maria" not in dumped and "Lopez" not in dumped
    assert trail.verify().ok


def test_release_with_masking_is_noted(spool: SpoolStore, trail: AuditTrail) -> None:
    message_id = held(spool)
    result = spool.release(message_id, "sam", "ok", now=T0, replacement=b"masked\r\n")
    assert isinstance(result, Decided)
    assert trail.entries()[0].details == {"reason_given": True, "redacted": True}


def test_a_decision_that_loses_the_race_writes_nothing(
    spool: SpoolStore, trail: AuditTrail
) -> None:
    message_id = held(spool)
    assert isinstance(spool.release(message_id, "sam", "ok", now=T0), Decided)
    late = spool.reject(message_id, "alex", "no", now=T0)
    assert isinstance(late, AlreadyDecided)
    assert [(e.action, e.actor) for e in trail.entries()] == [("message.release", "sam")]


def test_concurrent_reviewers_write_exactly_one_entry(
    spool: SpoolStore, trail: AuditTrail
) -> None:
    message_id = held(spool)
    barrier = threading.Barrier(6)
    results: list[object] = []
    lock = threading.Lock()

    def decide(n: int) -> None:
        barrier.wait()
        outcome = (spool.release if n % 2 else spool.reject)(message_id, f"r{n}", "x", now=T0)
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=decide, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    decided = [r for r in results if isinstance(r, Decided)]
    assert len(decided) == 1
    entries = trail.entries()
    assert len(entries) == 1 and entries[0].actor == decided[0].message.decided_by
    assert trail.verify().ok


def test_a_decision_whose_audit_entry_fails_is_not_made(
    engine: Engine, spool: SpoolStore, trail: AuditTrail
) -> None:
    """Same transaction: no audit entry, no decision."""
    message_id = held(spool)
    with pytest.raises(ValueError, match="actor"):
        spool.release(message_id, "   ", "ok", now=T0)
    with session_factory(engine)() as session:
        assert session.scalar(select(SpoolRow.state).where(SpoolRow.id == message_id)) == "held"
    assert trail.entries() == []


def test_expiry_writes_one_entry_per_message(spool: SpoolStore, trail: AuditTrail) -> None:
    first, second = held(spool), held(spool)
    expired = spool.expire(T0 + timedelta(days=15))
    assert {m.id for m in expired} == {first, second}
    entries = trail.entries()
    assert sorted(e.target for e in entries if e.target) == sorted([first, second])
    assert {(e.action, e.actor) for e in entries} == {("message.expire", "expiry")}
    assert spool.expire(T0 + timedelta(days=16)) == []
    assert len(trail.entries()) == 2


def test_consent_changes_are_audited_without_client_details(
    engine: Engine, trail: AuditTrail
) -> None:
    store = ConsentStore(engine)
    records = read_consent_csv(io.StringIO(f"{CONSENT_HEADER}\n{CONSENT_ROW}\n"))
    store.import_records(records, actor="admin@example.org", at=IMPORTED)
    evidence = "Maria Lopez phoned on 2026-03-02"
    assert store.revoke("C-1001", evidence=evidence, at=T0, actor="admin@example.org") == 1
    assert store.revoke("C-1001", evidence=evidence, at=T0) == 0  # nothing changed
    regrant = CONSENT_ROW.replace("2025-09-01", "2026-12-01")
    regranted = read_consent_csv(io.StringIO(f"{CONSENT_HEADER}\n{regrant}\n"))
    store.import_records(regranted, at=IMPORTED)
    entries = trail.entries()
    assert [(e.action, e.target, e.actor) for e in entries] == [
        ("consent.import", None, "admin@example.org"),
        ("consent.revoke", "C-1001", "admin@example.org"),
        ("consent.import", None, "command line"),
        ("consent.grant", "C-1001", "command line"),
    ]
    assert entries[0].details == {"created": 1, "updated": 0, "unchanged": 0, "kept_revoked": 0}
    assert entries[1].details["rows"] == 1 and entries[1].details["evidence_given"] is True
    everything = json.dumps([[e.actor, e.target, dict(e.details)] for e in entries])
    for secret in ("Maria", "Lopez", "maria.lopez@example.com", "phoned", "Prefers"):
        assert secret not in everything
    assert trail.verify().ok


def test_an_import_whose_audit_entry_fails_imports_nothing(
    engine: Engine, trail: AuditTrail
) -> None:
    store = ConsentStore(engine)
    records = read_consent_csv(io.StringIO(f"{CONSENT_HEADER}\n{CONSENT_ROW}\n"))
    with pytest.raises(ValueError, match="actor"):
        store.import_records(records, actor="   ", at=IMPORTED)
    assert store.list() == []
    with session_factory(engine)() as session:
        assert session.scalar(select(func.count()).select_from(AuditEntryRow)) == 0


# --- tactful audit --------------------------------------------------------------


def test_cli_verify_and_list(
    db_url: str, trail: AuditTrail, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(trail, 3)
    assert main(["audit", "verify", "--db", db_url]) == 0
    out = capsys.readouterr().out
    assert "intact: 3 entries checked" in out
    assert main(["audit", "verify", "--json", "--db", db_url]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True and report["checked"] == 3 and report["head_seq"] == 3

    assert main(["audit", "list", "--db", db_url]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["ENTRY", "TIME", "WHO", "ACTION", "ON", "DETAILS"]
    assert len(table) == 4 and "message.view" in table[1] and "reason given: yes" in table[1]
    assert "n: 1" in table[1]  # a count of 1 is not shown as "yes"
    assert main(["audit", "list", "--json", "--limit", "2", "--db", db_url]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [e["seq"] for e in listed] == [2, 3]
    assert listed[0]["details"] == {"reason_given": True, "n": 2}


def test_cli_verify_reports_tampering_with_exit_1(
    db_url: str, engine: Engine, trail: AuditTrail, capsys: pytest.CaptureFixture[str]
) -> None:
    fill(trail, 4)
    tamper(engine, "DELETE FROM audit_entry WHERE seq = 2")
    assert main(["audit", "verify", "--db", db_url]) == 1
    out = capsys.readouterr().out
    assert "tampered with: entry 2 is missing" in out
    assert main(["audit", "verify", "--json", "--db", db_url]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report == {
        **report, "ok": False, "first_broken": 2, "problem": "entry 2 is missing",
    }  # fmt: skip


def test_cli_usage_errors_exit_2(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["audit", "list", "--limit", "0", "--db", db_url])
    assert exc.value.code == 2
    assert "1 or more" in capsys.readouterr().err
    assert main(["audit", "verify", "--db", "nonsense://"]) == 2
    assert "not valid" in capsys.readouterr().err


def test_cli_empty_trail(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "list", "--db", db_url]) == 0
    assert "empty" in capsys.readouterr().out
    assert main(["audit", "verify", "--db", db_url]) == 0
