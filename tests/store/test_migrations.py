"""Migrations and ORM models agree, on SQLite and PostgreSQL, and the
revision chain stays linear for the stages that add to it."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from proxy.cli import main
from proxy.store.db import make_engine
from proxy.store.migrations import (
    alembic_config,
    current_revision,
    downgrade,
    head_revision,
    target_metadata,
    upgrade,
)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def diff(engine: Engine) -> list[object]:
    with engine.connect() as connection:
        return list(compare_metadata(MigrationContext.configure(connection), target_metadata()))


def test_upgrade_creates_exactly_what_the_models_describe(engine: Engine) -> None:
    assert current_revision(engine) is None
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    assert "consent" in inspect(engine).get_table_names()
    assert diff(engine) == []


def test_an_empty_database_differs_from_the_models(engine: Engine) -> None:
    # Guards the check above: compare_metadata does see missing tables.
    assert diff(engine) != []


def test_upgrade_is_idempotent_and_downgrade_removes_the_tables(engine: Engine) -> None:
    upgrade(engine)
    upgrade(engine)
    assert diff(engine) == []
    downgrade(engine, "base")
    assert current_revision(engine) is None
    assert "consent" not in inspect(engine).get_table_names()
    upgrade(engine)
    assert diff(engine) == []


def test_upgrade_by_url(db_url: str, engine: Engine) -> None:
    upgrade(db_url)
    assert current_revision(engine) == head_revision()


def test_revision_chain_is_linear_and_starts_with_consent() -> None:
    scripts = ScriptDirectory.from_config(alembic_config())
    assert len(scripts.get_heads()) == 1
    chain = list(scripts.walk_revisions())  # head first
    assert chain[-1].revision == "0001_consent"
    assert chain[-1].down_revision is None
    for newer, older in itertools.pairwise(chain):
        assert newer.down_revision == older.revision


def test_cli_db_upgrade(db_url: str, engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade", "--db", db_url]) == 0
    assert f"to {head_revision()}" in capsys.readouterr().out
    assert main(["db", "upgrade", "--db", db_url]) == 0
    assert "up to date" in capsys.readouterr().out
    assert diff(engine) == []


def test_cli_db_upgrade_unreachable_server(capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql+psycopg://admin:hunter2@127.0.0.1:1/none?connect_timeout=2"
    assert main(["db", "upgrade", "--db", url]) == 2
    err = capsys.readouterr().err
    assert "cannot migrate the database" in err
    assert "hunter2" not in err


def test_texts_spooled_before_the_channel_column_become_sms(engine: Engine) -> None:
    """0004 adds spooled_message.channel; rows whose recipients are all
    ``sms:`` addresses (what the Messages API stored) are texts."""
    from sqlalchemy import text

    upgrade(engine, "0003_audit")
    columns = (
        "id, state, kind, sender, recipients, \"user\", received_at, content_size, summary, "
        "verdict, override, urgent, attempts, expires_at, updated_at, version"
    )
    row = (
        "'{id}', 'held', 'hold', 'w@example.org', '{to}', 'w', '2026-11-24 16:00:00+00', 0, "
        "'{{}}', 'hold', false, false, 0, '2026-12-08 16:00:00+00', "
        "'2026-11-24 16:00:00+00', 1"
    )
    with engine.begin() as connection:
        for message_id, to in (("t1", '["sms:+13125550142"]'), ("m1", '["a@example.com"]')):
            connection.execute(
                text(f"INSERT INTO spooled_message ({columns}) VALUES ({row})".format(
                    id=message_id, to=to
                ))
            )
    upgrade(engine)
    with engine.connect() as connection:
        channels = dict(connection.execute(text("SELECT id, channel FROM spooled_message")).all())
    assert channels == {"t1": "sms", "m1": "email"}
    assert diff(engine) == []
