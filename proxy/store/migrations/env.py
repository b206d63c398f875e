"""Alembic environment: migrates the engine handed over by
:func:`proxy.store.migrations.upgrade`, against ``proxy.store.db.Base.metadata``.

Online mode only: Tactful always migrates a live database, and offline SQL
scripts would drift from what the tests check.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from proxy.store.db import make_engine
from proxy.store.migrations import target_metadata


def run_migrations_online() -> None:
    config = context.config
    engine: Engine | None = config.attributes.get("engine")
    owned = engine is None
    if engine is None:
        url = config.get_main_option("sqlalchemy.url")
        if not url:
            raise RuntimeError("no database: pass an engine or set sqlalchemy.url")
        engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=target_metadata(),
                render_as_batch=connection.dialect.name == "sqlite",
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        if owned:
            engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("Tactful migrations run online only: use `tactful db upgrade`")
run_migrations_online()
