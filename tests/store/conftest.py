"""What the store tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from proxy.store.db import make_engine
from proxy.store.migrations import upgrade


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A database at the newest schema (SQLite, or PostgreSQL when the
    suite is given one: see ``db_url``)."""
    engine = make_engine(db_url)
    upgrade(engine)
    yield engine
    engine.dispose()
