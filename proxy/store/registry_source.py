"""Where a running Tactful gets its consent registry snapshot from."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.engine import Engine, make_url

from proxy.core.consent import Registry


def _missing_sqlite_file(url: str) -> bool:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return False
    return not parsed.database or not Path(parsed.database).exists()


@cache
def _engine(url: str) -> Engine:
    """One engine (and connection pool) per URL for this process."""
    from proxy.store.db import make_engine

    return make_engine(url)


def registry_from_database(url: str, *, migrate: bool = True) -> Registry:
    """Snapshot of the registry in the database at ``url``.

    A SQLite file that does not exist yet means an empty registry: linting
    must not create databases as a side effect.
    """
    if _missing_sqlite_file(url):
        return Registry()
    from proxy.store.consent_store import ConsentStore

    if migrate:
        from proxy.store.migrations import upgrade

        upgrade(url)
    return ConsentStore(_engine(url)).snapshot()


def registry_stamp(url: str) -> object:
    """A cheap fingerprint of the registry's contents (row count and latest
    change), so each analysis worker reloads its snapshot only when the
    registry actually changed."""
    if _missing_sqlite_file(url):
        return None
    from proxy.store.consent_store import ConsentRow

    with _engine(url).connect() as conn:
        row = conn.execute(
            select(func.count(ConsentRow.id), func.max(ConsentRow.updated_at))
        ).one()
    return (row[0], row[1])
