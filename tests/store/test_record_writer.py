"""The group writer of delivered messages' records, on a real SQLite file
and (when TACTFUL_TEST_DATABASE_URL is set) a real PostgreSQL schema: what
queues while it writes commits as one transaction with a valid audit chain,
two writers and a single appender on one database keep one chain, stop()
commits what is queued, and a failing write neither raises nor loses the
rest of its group.

Groups are made deterministic, not timed: another connection holds the
audit chain's head (on SQLite, the write lock), so the writer waits inside
its first transaction while the rest queues up behind it."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Engine, event, text

from proxy.store.audit import AuditTrail, new_entry
from proxy.store.db import make_engine, session_factory
from proxy.store.disclosures import (
    Delivery,
    DisclosureLog,
    delivery_for_verdict,
    record_deliveries,
)
from proxy.store.record_writer import RecordWriter
from tests.store.test_disclosures import (
    CLIENT,
    CONDITION,
    LANDLORD,
    OTHER_CLIENT,
    SSN_FINDING,
    T0,
    verdict,
)

WORKER = "jane@example.org"



def delivered(message_id: str, *, warned: bool = True) -> Delivery:
    """Two disclosures (the client, C-1 and C-2; the landlord, C-2) and,
    when warned, a message.warn entry."""
    entries = (
        (new_entry(actor=WORKER, action="message.warn", target=message_id,
                   details={"rules": "channel-preference"}, at=T0),)
        if warned else ()
    )  # fmt: skip
    v = verdict((CLIENT, LANDLORD), (OTHER_CLIENT, CONDITION))
    return delivery_for_verdict(message_id, v, T0, entries)


def no_clients(message_id: str) -> Delivery:
    """One disclosure that names no client: only a number went to the landlord."""
    return delivery_for_verdict(
        message_id, verdict((LANDLORD,), (SSN_FINDING,), mask_ssn=False), T0
    )


@contextmanager
def commits(engine: Engine) -> Iterator[list[int]]:
    """Every commit made through ``engine`` while inside."""
    seen: list[int] = []

    def counted(_connection: Any) -> None:
        seen.append(1)

    event.listen(engine, "commit", counted)
    try:
        yield seen
    finally:
        event.remove(engine, "commit", counted)


@contextmanager
def head_held(db_url: str) -> Iterator[Callable[[], None]]:
    """Another connection holds the chain head until the yielded release."""
    other = make_engine(db_url)
    connection = other.connect()
    transaction = connection.begin()
    connection.execute(text("UPDATE audit_head SET seq = seq WHERE id = 1"))
    try:
        yield transaction.commit
    finally:
        if transaction.is_active:
            transaction.rollback()
        connection.close()
        other.dispose()


def sent_counts(engine: Engine) -> dict[str, int]:
    return {
        str(e.target): int(e.details["disclosures"] or 0)
        for e in AuditTrail(engine).entries()
        if e.action == "message.sent"
    }


# --- one transaction for what is queued ------------------------------------------


def test_what_queues_while_the_writer_waits_commits_as_one_group(
    db_url: str, engine: Engine
) -> None:
    messages = [f"m-{n}" for n in range(120)]
    writer = RecordWriter(engine, max_group=len(messages))
    with commits(engine) as seen:
        writer.start()
        try:

            async def deliver_all() -> None:
                with head_held(db_url) as release:
                    tasks = [asyncio.create_task(writer.write(delivered(m))) for m in messages]
                    await asyncio.sleep(0)  # every task has queued its records
                    release()
                await asyncio.gather(*tasks)

            asyncio.run(deliver_all())
        finally:
            writer.stop()
    # The first group (what was queued when the writer woke), then the rest.
    assert 1 <= len(seen) <= 2
    trail = AuditTrail(engine)
    entries = trail.entries()
    assert [(e.action, e.target) for e in entries] == [
        (action, m) for m in messages for action in ("message.sent", "message.warn")
    ]
    assert [e.seq for e in entries] == list(range(1, 2 * len(messages) + 1))
    report = trail.verify()
    assert report.ok and report.checked == 2 * len(messages)
    assert sent_counts(engine) == dict.fromkeys(messages, 2)
    log = DisclosureLog(engine)
    assert len(log.for_client("C-2")) == 2 * len(messages)
    assert len(log.for_client("C-1")) == len(messages)  # the client herself, not the landlord


def test_a_message_already_on_record_gets_no_second_sent_entry(engine: Engine) -> None:
    with session_factory(engine).begin() as session:
        assert record_deliveries(session, [delivered("m-1"), delivered("m-1")]) == [2, 0]
    with session_factory(engine).begin() as session:
        counts = record_deliveries(session, [delivered("m-1", warned=False), delivered("m-2")])
        assert counts == [0, 2]
    entries = AuditTrail(engine).entries()
    assert [(e.action, e.target) for e in entries] == [
        ("message.sent", "m-1"), ("message.warn", "m-1"), ("message.warn", "m-1"),
        ("message.sent", "m-2"), ("message.warn", "m-2"),
    ]  # fmt: skip
    assert AuditTrail(engine).verify().ok
    assert len(DisclosureLog(engine).for_message("m-1")) == 2


# --- concurrency -------------------------------------------------------------


def test_two_writers_and_a_single_appender_keep_one_chain(db_url: str, engine: Engine) -> None:
    """Two writers with their own engines (two nodes on one PostgreSQL) and
    a reviewer's single entries, all at once: one chain, no number twice."""
    each, singles = 60, 30
    engines = [make_engine(db_url) for _ in range(2)]
    writers = [RecordWriter(e, max_group=16) for e in engines]
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def deliver(k: int) -> None:
        async def deliver_all() -> None:
            await asyncio.gather(*(writers[k].write(delivered(f"{k}-{n}")) for n in range(each)))

        try:
            barrier.wait()
            asyncio.run(deliver_all())
        except BaseException as exc:  # reported below, with the others
            errors.append(exc)

    def append() -> None:
        trail = AuditTrail(engine)
        try:
            barrier.wait()
            for n in range(singles):
                trail.record(actor="sam@example.org", action="message.view", target=f"v-{n}",
                             at=T0)  # fmt: skip
        except BaseException as exc:
            errors.append(exc)

    for writer in writers:
        writer.start()
    threads = [threading.Thread(target=deliver, args=(k,)) for k in range(2)]
    threads.append(threading.Thread(target=append))
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for writer in writers:
            writer.stop()
        for e in engines:
            e.dispose()
    assert errors == []
    trail = AuditTrail(engine)
    total = 2 * each * 2 + singles
    assert [e.seq for e in trail.entries()] == list(range(1, total + 1))
    report = trail.verify()
    assert report.ok and report.checked == total
    assert sent_counts(engine) == {f"{k}-{n}": 2 for k in range(2) for n in range(each)}


# --- stopping ----------------------------------------------------------------------


def test_stop_commits_everything_queued_before_it_returns(db_url: str, engine: Engine) -> None:
    messages = [f"m-{n}" for n in range(40)]
    writer = RecordWriter(engine, max_group=8)  # several groups left when stop() is called
    writer.start()

    async def deliver_then_stop() -> None:
        with head_held(db_url) as release:
            tasks = [asyncio.create_task(writer.write(delivered(m))) for m in messages]
            await asyncio.sleep(0)  # all queued; the writer waits on the head
            stopping = threading.Thread(target=writer.stop)
            stopping.start()
            release()
            await asyncio.to_thread(stopping.join)
        # stop() has returned: everything is committed, whoever still waits.
        assert sent_counts(engine) == dict.fromkeys(messages, 2)
        await asyncio.gather(*tasks)
        # Delivered after the stop: written on its own, not dropped.
        await writer.write(delivered("late"))

    asyncio.run(deliver_then_stop())
    assert sent_counts(engine)["late"] == 2
    assert AuditTrail(engine).verify().ok


# --- failures -----------------------------------------------------------------------


def test_a_failing_message_neither_raises_nor_loses_its_group(
    db_url: str, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """Without the clients table, a message naming clients cannot be
    written; the group is written again one by one, so the other messages
    in it are kept, and the failure is logged without client data."""
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE disclosure_client"))
    writer = RecordWriter(engine)
    writer.start()

    async def deliver_all() -> None:
        with head_held(db_url) as release:
            tasks = [
                asyncio.create_task(writer.write(d))
                for d in (no_clients("ok-1"), delivered("lost"), no_clients("ok-2"))
            ]
            await asyncio.sleep(0)
            release()
        await asyncio.gather(*tasks)  # none raises

    try:
        with caplog.at_level(logging.ERROR, logger="proxy.store.record_writer"):
            asyncio.run(deliver_all())
    finally:
        writer.stop()
    assert sent_counts(engine) == {"ok-1": 1, "ok-2": 1}
    assert "records of message lost not written" in caplog.text
    assert "ok-1" not in caplog.text
    for secret in ("rentals", "maria", "Kevin", "C-2"):
        assert secret not in caplog.text
    assert AuditTrail(engine).verify().ok
