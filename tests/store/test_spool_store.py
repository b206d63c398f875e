"""The spool store on a real SQLite file and (when TACTFUL_TEST_DATABASE_URL
is set) a real PostgreSQL schema: durability rules, encryption at rest,
leases and compare-and-set decisions."""

from __future__ import annotations

import os
import threading
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, select, text

from proxy.core.clock import ManualClock
from proxy.core.consent import Channel
from proxy.core.submission import Submission
from proxy.store.crypto import MessageCipher
from proxy.store.db import session_factory
from proxy.store.spool_decisions import AlreadyDecided, Decided, NotFound
from proxy.store.spool_model import SpoolKind, SpoolRow, SpoolState
from proxy.store.spool_store import MIN_PREFIX, Ambiguous, SpoolConflictError, SpoolStore
from proxy.store.spool_summary import FindingSummary, HitSummary, VerdictSummary

T0 = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)
SECRET = b"Maria Lopez DOB 04/12/1987 SSN 123-45-6789"
RAW = (
    b"From: worker@agency.example\r\nTo: intake@partner.example.net\r\n"
    b"Subject: referral\r\n\r\n" + SECRET + b"\r\n"
)
SUMMARY = VerdictSummary(
    verdict="hold",
    enforced="hold",
    mode="enforce",
    hits=(
        HitSummary(
            rule="personal-identifier",
            action="hold",
            message="Remove the date of birth, or send it through the secure client portal.",
        ),
    ),
    findings=(FindingSummary(entity="DATE_OF_BIRTH", location="body"),),
)



@pytest.fixture
def cipher() -> MessageCipher:
    return MessageCipher(os.urandom(32))


@pytest.fixture
def spool(engine: Engine, cipher: MessageCipher) -> SpoolStore:
    return SpoolStore(
        engine,
        cipher,
        clock=ManualClock(T0),
        expire_after=timedelta(days=14),
        lease=timedelta(minutes=5),
    )


def submission(
    raw: bytes = RAW, *, sender: str = "worker@agency.example", user: str = "worker",
    message_id: str | None = None,
) -> Submission:  # fmt: skip
    return Submission(
        id=message_id or uuid.uuid4().hex,
        sender=sender,
        recipients=("intake@partner.example.net", "cc@partner.example.net"),
        user=user,
        raw=raw,
        received_at=T0,
    )


def deferred(spool: SpoolStore, due: datetime = T0) -> str:
    sub = submission()
    spool.defer(sub, due, SUMMARY, now=T0)
    return sub.id


def held(spool: SpoolStore) -> str:
    sub = submission()
    spool.hold(sub, SUMMARY, now=T0)
    return sub.id


def stored_content(engine: Engine, message_id: str) -> bytes | None:
    with session_factory(engine)() as session:
        blob: bytes | None = session.scalar(
            select(SpoolRow.content).where(SpoolRow.id == message_id)
        )
        return blob


# --- storing ------------------------------------------------------------------


def test_hold_stores_metadata_and_content(spool: SpoolStore) -> None:
    sub = submission()
    stored = spool.hold(sub, SUMMARY, now=T0)
    assert stored.state is SpoolState.HELD and stored.kind is SpoolKind.HOLD
    assert stored.recipients == sub.recipients and stored.user == "worker"
    assert stored.expires_at == T0 + timedelta(days=14)
    assert stored.summary == SUMMARY
    assert stored.summary.rule_codes == ("personal-identifier",)
    assert stored.has_content and stored.content_size == len(RAW)
    assert not stored.redacted_on_release
    assert spool.raw(sub.id) == RAW
    assert [m.id for m in spool.list_held()] == [sub.id]


def test_hold_and_defer_are_idempotent_on_the_submission_id(spool: SpoolStore) -> None:
    sub = submission()
    first = spool.hold(sub, SUMMARY, now=T0)
    again = spool.hold(sub, SUMMARY, now=T0 + timedelta(seconds=5))
    assert again.id == first.id and again.version == first.version
    later = submission()
    spool.defer(later, T0 + timedelta(hours=10), SUMMARY, now=T0)
    spool.defer(later, T0 + timedelta(hours=10), SUMMARY, now=T0)
    assert len(spool.by_state()) == 2
    with pytest.raises(SpoolConflictError):
        spool.defer(sub, T0, SUMMARY, now=T0)


def test_content_is_encrypted_at_rest(spool: SpoolStore, engine: Engine) -> None:
    message_id = held(spool)
    with engine.connect() as connection:
        row = connection.execute(
            text("SELECT * FROM spooled_message WHERE id = :id"), {"id": message_id}
        ).one()
    dumped = b"".join(
        bytes(value) if isinstance(value, (bytes, memoryview)) else str(value).encode()
        for value in row
    )
    assert b"Maria" not in dumped and b"123-45-6789" not in dumped
    assert b"referral" not in dumped
    blob = stored_content(engine, message_id)
    assert blob is not None and SECRET not in blob


def test_the_title_is_encrypted_at_rest_and_outlives_the_content(
    spool: SpoolStore, engine: Engine
) -> None:
    """The title (a subject can name a client) is stored like the content,
    and is still there to name the message once a decision purged the body."""
    titled = replace(SUMMARY, title="Maria's rehab intake")
    message_id = spool.hold(submission(), titled, now=T0).id
    with engine.connect() as connection:
        row = connection.execute(
            text("SELECT summary FROM spooled_message WHERE id = :id"), {"id": message_id}
        ).one()
    assert "rehab" not in str(row[0]) and "Maria" not in str(row[0])
    assert isinstance(spool.reject(message_id, "sam", "not needed", now=T0), Decided)
    gone = spool.get(message_id)
    assert gone is not None and not gone.has_content
    assert gone.summary.title == "Maria's rehab intake"
    other = SpoolStore(engine, MessageCipher(os.urandom(32)), clock=ManualClock(T0))
    unreadable = other.get(message_id)
    assert unreadable is not None and unreadable.summary.title is None


def test_another_key_cannot_read_the_content(spool: SpoolStore, engine: Engine) -> None:
    from proxy.store.crypto import DecryptionError

    message_id = held(spool)
    other = SpoolStore(engine, MessageCipher(os.urandom(32)), clock=ManualClock(T0))
    with pytest.raises(DecryptionError):
        other.raw(message_id)


# --- delivery -----------------------------------------------------------------


def test_only_due_deliverable_rows_are_offered(spool: SpoolStore) -> None:
    now_id = deferred(spool, T0)
    later_id = deferred(spool, T0 + timedelta(hours=12))
    held(spool)
    assert [m.id for m in spool.due_for_delivery(T0)] == [now_id]
    due_later = {m.id for m in spool.due_for_delivery(T0 + timedelta(hours=12))}
    assert due_later == {now_id, later_id}


def test_one_of_two_claimers_wins(spool: SpoolStore) -> None:
    message_id = deferred(spool)
    first = spool.claim_for_delivery(message_id, T0, "node-a")
    second = spool.claim_for_delivery(message_id, T0, "node-b")
    assert first is not None and first.owner == "node-a"
    assert second is None
    assert first.message.attempts == 1
    assert spool.due_for_delivery(T0) == []


def test_concurrent_claimers_in_threads_one_wins(spool: SpoolStore) -> None:
    ids = [deferred(spool) for _ in range(5)]
    barrier = threading.Barrier(4)
    wins: dict[str, list[str]] = {message_id: [] for message_id in ids}
    errors: list[BaseException] = []
    lock = threading.Lock()

    def claim(owner: str) -> None:
        try:
            barrier.wait()
            for message_id in ids:
                lease = spool.claim_for_delivery(message_id, T0, owner)
                if lease is not None:
                    with lock:
                        wins[message_id].append(owner)
        except BaseException as exc:  # reported below, not swallowed
            errors.append(exc)

    threads = [threading.Thread(target=claim, args=(f"node-{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert all(len(owners) == 1 for owners in wins.values()), wins


def test_an_expired_lease_lets_another_claimer_take_over(spool: SpoolStore) -> None:
    message_id = deferred(spool)
    first = spool.claim_for_delivery(message_id, T0, "node-a")
    assert first is not None
    assert spool.claim_for_delivery(message_id, T0 + timedelta(minutes=4), "node-b") is None
    second = spool.claim_for_delivery(message_id, T0 + timedelta(minutes=5), "node-b")
    assert second is not None and second.owner == "node-b"
    assert second.message.attempts == 2
    # The first worker lost its lease: it can no longer report a failure.
    assert not spool.mark_failed(first, 451, "4.3.0", T0 + timedelta(hours=1), T0)


def test_mark_sent_purges_content(spool: SpoolStore, engine: Engine) -> None:
    message_id = deferred(spool)
    lease = spool.claim_for_delivery(message_id, T0, "node-a")
    assert lease is not None
    assert spool.mark_sent(lease, T0 + timedelta(seconds=1))
    sent = spool.get(message_id)
    assert sent is not None and sent.state is SpoolState.SENT and not sent.has_content
    assert stored_content(engine, message_id) is None and spool.raw(message_id) is None
    assert not spool.mark_sent(lease, T0 + timedelta(seconds=2))


def test_mark_failed_keeps_content_and_schedules_a_retry(spool: SpoolStore) -> None:
    message_id = deferred(spool)
    lease = spool.claim_for_delivery(message_id, T0, "node-a")
    assert lease is not None
    retry = T0 + timedelta(minutes=1)
    assert spool.mark_failed(lease, 451, "4.3.0", retry, T0)
    row = spool.get(message_id)
    assert row is not None and row.state is SpoolState.DEFERRED
    assert row.has_content and spool.raw(message_id) == RAW
    assert row.next_attempt_at == retry
    assert row.last_error is not None and row.last_error.startswith("451 4.3.0")
    assert spool.due_for_delivery(T0) == []
    assert [m.id for m in spool.due_for_delivery(retry)] == [message_id]


def test_mark_refused_returns_the_message_and_purges_content(spool: SpoolStore) -> None:
    message_id = deferred(spool)
    lease = spool.claim_for_delivery(message_id, T0, "node-a")
    assert lease is not None
    assert spool.mark_refused(lease, 550, "5.1.1", T0)
    row = spool.get(message_id)
    assert row is not None and row.state is SpoolState.RETURNED and not row.has_content
    assert row.decided_by == "upstream"
    assert row.last_error is not None and "refused" in row.last_error


# --- decisions ----------------------------------------------------------------


def test_release_makes_a_hold_due_now(spool: SpoolStore) -> None:
    message_id = held(spool)
    result = spool.release(message_id, "sam", "checked with the client", now=T0)
    assert isinstance(result, Decided)
    assert result.message.state is SpoolState.RELEASED
    assert result.message.decided_by == "sam"
    assert result.message.decision_reason == "checked with the client"
    assert not result.message.redacted_on_release
    assert spool.raw(message_id) == RAW
    assert [m.id for m in spool.due_for_delivery(T0)] == [message_id]


def test_release_with_replacement_stores_the_new_bytes(
    spool: SpoolStore, engine: Engine
) -> None:
    message_id = held(spool)
    masked = RAW.replace(b"123-45-6789", b"***-**-6789")
    result = spool.release(message_id, "sam", "masked the SSN", now=T0, replacement=masked)
    assert isinstance(result, Decided)
    assert result.message.redacted_on_release
    assert result.message.content_size == len(masked)
    assert result.message.summary == SUMMARY  # the verdict summary itself is kept
    assert spool.raw(message_id) == masked
    blob = stored_content(engine, message_id)
    assert blob is not None and b"***-**-6789" not in blob  # still encrypted
    again = spool.get(message_id)
    assert again is not None and again.redacted_on_release


def test_release_with_replacement_of_an_unknown_id_is_not_found(spool: SpoolStore) -> None:
    assert spool.release("0" * 32, "sam", "x", now=T0, replacement=b"x") == NotFound("0" * 32)


@pytest.mark.parametrize("decision", ["reject", "delete", "cancel"])
def test_decisions_that_end_a_hold_purge_content(
    spool: SpoolStore, engine: Engine, decision: str
) -> None:
    message_id = held(spool)
    if decision == "reject":
        result = spool.reject(message_id, "sam", "remove the DOB", now=T0)
        expected = SpoolState.RETURNED
    elif decision == "delete":
        result = spool.delete(message_id, "admin", "sent to the wrong agency", now=T0)
        expected = SpoolState.DELETED
    else:
        result = spool.cancel(message_id, "worker", now=T0)
        expected = SpoolState.CANCELLED
    assert isinstance(result, Decided)
    assert result.message.state is expected and not result.message.has_content
    assert stored_content(engine, message_id) is None
    assert spool.due_for_delivery(T0 + timedelta(days=30)) == []


def test_the_second_decision_gets_already_decided(spool: SpoolStore) -> None:
    message_id = held(spool)
    assert isinstance(spool.release(message_id, "sam", "fine", now=T0), Decided)
    for late in (
        spool.reject(message_id, "pat", "no", now=T0),
        spool.release(message_id, "pat", "fine too", now=T0),
        spool.delete(message_id, "admin", "cleanup", now=T0),
        spool.cancel(message_id, "worker", now=T0),
        spool.release(message_id, "pat", "masked", now=T0, replacement=b"other"),
    ):
        assert late == AlreadyDecided(message_id, SpoolState.RELEASED, "sam")
    assert spool.raw(message_id) == RAW  # the losing replacement was not stored


def test_decisions_on_unknown_or_deferred_messages(spool: SpoolStore) -> None:
    assert spool.reject("f" * 32, "sam", "x", now=T0) == NotFound("f" * 32)
    message_id = deferred(spool)
    result = spool.release(message_id, "sam", "x", now=T0)
    assert result == AlreadyDecided(message_id, SpoolState.DEFERRED, None)


def test_concurrent_reviewers_exactly_one_decides(spool: SpoolStore) -> None:
    message_id = held(spool)
    barrier = threading.Barrier(6)
    results: list[object] = []
    lock = threading.Lock()

    def decide(n: int) -> None:
        barrier.wait()
        if n % 2:
            outcome: object = spool.release(message_id, f"r{n}", "ok", now=T0)
        else:
            outcome = spool.reject(message_id, f"r{n}", "no", now=T0)
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=decide, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    decided = [r for r in results if isinstance(r, Decided)]
    assert len(results) == 6 and len(decided) == 1
    winner = decided[0].message
    assert all(
        r == AlreadyDecided(message_id, winner.state, winner.decided_by)
        for r in results
        if not isinstance(r, Decided)
    )


# --- expiry -------------------------------------------------------------------


def test_expiry_returns_the_expired_rows_and_purges_them(
    spool: SpoolStore, engine: Engine
) -> None:
    old = held(spool)
    released = held(spool)
    spool.release(released, "sam", "ok", now=T0)
    late = deferred(spool, T0 + timedelta(days=20))
    fresh = submission()
    spool.hold(fresh, SUMMARY, now=T0 + timedelta(days=10))

    assert spool.expire(T0 + timedelta(days=13)) == []
    expired = spool.expire(T0 + timedelta(days=14))
    assert [m.id for m in expired] == [old]
    assert expired[0].state is SpoolState.EXPIRED and not expired[0].has_content
    assert expired[0].decided_by == "expiry"
    assert expired[0].sender == "worker@agency.example"  # for the expiry notice
    assert stored_content(engine, old) is None
    # Already expired rows are not returned twice (one notice per message).
    assert spool.expire(T0 + timedelta(days=14)) == []

    far = spool.expire(T0 + timedelta(days=60))
    assert [m.id for m in far] == [fresh.id]
    for message_id, state in ((released, SpoolState.RELEASED), (late, SpoolState.DEFERRED)):
        row = spool.get(message_id)
        assert row is not None and row.state is state and row.has_content


# --- resolving short ids ------------------------------------------------------


def test_resolve_exact_and_prefix(spool: SpoolStore) -> None:
    a = submission(message_id="abcdef0123456789" + "0" * 16)
    b = submission(message_id="abcdef0199999999" + "0" * 16)
    spool.hold(a, SUMMARY, now=T0)
    spool.hold(b, SUMMARY, now=T0)
    found = spool.resolve(a.id)
    assert found is not None and not isinstance(found, Ambiguous) and found.id == a.id
    found = spool.resolve("ABCDEF0123")
    assert found is not None and not isinstance(found, Ambiguous) and found.id == a.id
    both = spool.resolve("abcdef01")
    assert isinstance(both, Ambiguous) and set(both.ids) == {a.id, b.id}
    assert spool.resolve("abcdef0") is None  # shorter than MIN_PREFIX
    assert len("abcdef0") < MIN_PREFIX
    assert spool.resolve("abcdef77") is None
    assert spool.resolve("abcdef0%") is None  # LIKE wildcards are literal
    assert spool.resolve("") is None


@pytest.mark.parametrize("channel", list(Channel))
def test_the_channel_is_stored_with_the_message(spool: SpoolStore, channel: Channel) -> None:
    sub = replace(submission(), channel=channel)
    assert spool.hold(sub, SUMMARY, now=T0).channel is channel
    stored = spool.get(sub.id)
    assert stored is not None and stored.channel is channel
