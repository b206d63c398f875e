"""The registry fingerprint an analysis worker asks for before every
message, on a real SQLite file and (when the suite is given one) a real
PostgreSQL schema: it must see every change another connection commits,
and nothing else may make it think the registry changed."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, text

from proxy.core.consent import CSV_COLUMNS
from proxy.store.audit import record as audit
from proxy.store.consent_csv import read_consent_csv
from proxy.store.consent_store import ConsentStore
from proxy.store.db import session_factory
from proxy.store.migrations import upgrade
from proxy.store.registry_source import RegistryStamps, registry_stamp

T0 = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)
ROWS = (
    "C-1,Maria Lopez,,maria.lopez@example.com,email,self,granted,2025-09-01,,no,,",
    "C-2,Kevin Tran,,kevin@example.net,email,self,granted,2026-01-20,,yes,,",
)


def records(*rows: str) -> list:  # type: ignore[type-arg]
    return read_consent_csv(io.StringIO("\n".join([",".join(CSV_COLUMNS), *rows]) + "\n"))


def test_each_committed_change_gives_a_new_stamp_and_nothing_else_does(engine: Engine) -> None:
    url = engine.url.render_as_string(hide_password=False)
    stamps = RegistryStamps(url)
    store = ConsentStore(engine)
    try:
        empty = stamps()
        assert empty == stamps()  # asking twice changes nothing

        store.import_records(records(ROWS[0]), at=T0)
        one = stamps()
        assert one != empty

        # Other tables' commits (the record writer's, all day long) are not
        # registry changes: no reload for them.
        with session_factory(engine).begin() as session:
            audit(session, actor="tester", action="test.other", at=T0)
        assert stamps() == one

        store.revoke("C-1", evidence="client asked by phone", at=T0.replace(hour=16))
        revoked = stamps()
        assert revoked not in (one, empty)

        store.import_records(records(*ROWS), at=T0.replace(hour=17))
        assert stamps() not in (revoked, one, empty)
    finally:
        stamps.close()


def test_it_changes_exactly_when_the_pooled_stamp_does(engine: Engine) -> None:
    """The kept connection and a fresh checkout tell the same changes apart."""
    url = engine.url.render_as_string(hide_password=False)
    stamps = RegistryStamps(url)
    store = ConsentStore(engine)
    try:
        seen = [(stamps(), registry_stamp(url))]
        store.import_records(records(ROWS[0]), at=T0)
        seen.append((stamps(), registry_stamp(url)))
        store.revoke("C-1", evidence="by letter", at=T0.replace(hour=16))
        seen.append((stamps(), registry_stamp(url)))
        kept = [k for k, _ in seen]
        fresh = [f for _, f in seen]
        assert len(set(kept)) == len(set(fresh)) == 3
    finally:
        stamps.close()


def idle(stamps: RegistryStamps) -> bool:
    """No transaction left open on the kept connection between questions
    (on PostgreSQL one would hold back vacuum and pin a snapshot)."""
    driver = stamps._connection.dbapi_connection
    if hasattr(driver, "in_transaction"):  # sqlite3
        return not driver.in_transaction
    from psycopg.pq import TransactionStatus

    return bool(driver.info.transaction_status == TransactionStatus.IDLE)


def test_no_transaction_is_left_open_between_questions(engine: Engine) -> None:
    url = engine.url.render_as_string(hide_password=False)
    stamps = RegistryStamps(url)
    try:
        stamps()
        assert idle(stamps)
        ConsentStore(engine).import_records(records(ROWS[0]), at=T0)
        stamps()
        assert idle(stamps)
    finally:
        stamps.close()


def test_a_broken_connection_is_replaced(engine: Engine) -> None:
    """The database restarted under a running worker: the next question is
    answered on a new connection, and still sees the latest change."""
    url = engine.url.render_as_string(hide_password=False)
    stamps = RegistryStamps(url)
    try:
        before = stamps()
        driver = stamps._connection.dbapi_connection
        if engine.dialect.name == "postgresql":  # as a server restart does it
            with engine.connect() as other:
                other.execute(
                    text("SELECT pg_terminate_backend(:pid)"), {"pid": driver.info.backend_pid}
                )
        else:
            driver.close()
        ConsentStore(engine).import_records(records(ROWS[0]), at=T0)
        assert stamps() != before
        assert idle(stamps)
    finally:
        stamps.close()


def test_a_sqlite_file_that_does_not_exist_yet_is_no_registry_until_it_does(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'later.db'}"
    stamps = RegistryStamps(url)
    try:
        assert stamps() is None
        assert not (tmp_path / "later.db").exists()  # asking creates nothing
        upgrade(url)
        assert stamps() is not None
    finally:
        stamps.close()
