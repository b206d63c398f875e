"""Database plumbing shared by every store: one declarative Base, and engines
configured so that a commit is durable before Tactful says 250.

SQLite runs in WAL mode with ``synchronous=FULL``; PostgreSQL keeps its
default ``synchronous_commit=on``, which we assert rather than assume.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

# Where a store writes inside its caller's transaction: an ORM session, or a
# bare connection where the session's bookkeeping costs more than the rows
# (the record writer, before every 250).
Transaction = Session | Connection


class Base(DeclarativeBase):
    """Metadata shared by every table; Alembic's target."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _postgres_sync_commit(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("SET synchronous_commit TO on")
    cursor.close()


def make_engine(url: str) -> Engine:
    """Create an engine for ``url`` with Tactful's durability settings.

    A relative SQLite path is created on demand (``var/`` by default).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        engine = create_engine(parsed, pool_pre_ping=True)
        event.listen(engine, "connect", _postgres_sync_commit)
        return engine
    return create_engine(url)


def dialect_name(db: Transaction) -> str:
    """``sqlite`` or ``postgresql``: for statements only one of them has."""
    return db.dialect.name if isinstance(db, Connection) else db.get_bind().dialect.name


def session_factory(engine: Engine) -> sessionmaker:  # type: ignore[type-arg]
    return sessionmaker(engine, expire_on_commit=False)


def aware(moment: datetime) -> datetime:
    """A time read back from the database: SQLite hands back naive
    datetimes, and everything Tactful stores is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def utc(moment: datetime) -> datetime:
    """A time about to be stored, in UTC so SQLite's text comparison orders
    it correctly. A naive time is refused: whose local time would it be?"""
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware (use datetime.now(UTC))")
    return moment.astimezone(UTC)


def rowcount(result: Any) -> int:
    """Rows an ``UPDATE`` touched: how a compare-and-set learns it won."""
    count: int = result.rowcount
    return count
