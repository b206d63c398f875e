"""Migration 0006 on a database that already holds consent rows and
disclosures (real SQLite and PostgreSQL): they read as before -- no
restriction, not Part 2, no purpose stated, not reviewed, no notice -- and
the downgrade gives the old tables back with the rows in them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Engine, inspect, text

from proxy.store.consent_store import ConsentStore
from proxy.store.db import make_engine
from proxy.store.disclosures import DisclosureLog
from proxy.store.migrations import downgrade, upgrade

BEFORE = "0005_login_failures"
T0 = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    engine = make_engine(db_url)
    yield engine
    engine.dispose()


def test_existing_rows_survive_0006_both_ways(engine: Engine) -> None:
    upgrade(engine, BEFORE)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO consent (client_id, name, aliases, address, channel, relationship,"
                " status, granted_on, expires_on, preferred, identifiers, notes, created_at,"
                " updated_at) VALUES ('C-1', 'Dana', '[]', 'dana@law.example', 'email',"
                " 'authorized', 'granted', :d, NULL, false, '[]', '', :t, :t)"
            ),
            {"d": date(2026, 1, 5), "t": T0},
        )
        disclosure_id = conn.execute(
            text(
                "INSERT INTO disclosure (message_id, recipient, recipient_kind, channel,"
                " categories, entity_types, at) VALUES ('m-1', 'dana@law.example',"
                " 'authorized', 'email', '[\"substance_use\"]', '[]', :t) RETURNING id"
            ),
            {"t": T0},
        ).scalar_one()
        conn.execute(
            text("INSERT INTO disclosure_client (disclosure_id, client_id) VALUES (:i, 'C-1')"),
            {"i": disclosure_id},
        )
    upgrade(engine)
    (record,) = ConsentStore(engine).list("C-1")
    assert (record.recipient_name, record.scope, record.purpose, record.part2) == ("", (), "",
                                                                                 False)  # fmt: skip
    assert record.covers("mental_health")
    (entry,) = DisclosureLog(engine).for_client("C-1")
    assert (entry.purpose, entry.recipient_name, entry.released_by, entry.part2_notice) == (
        None, None, None, False
    )
    assert entry.categories == ("substance_use",)
    downgrade(engine, BEFORE)
    columns = {c["name"] for c in inspect(engine).get_columns("consent")}
    assert "scope" not in columns and "part2" not in columns
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM consent")).scalar_one() == 1
        assert conn.execute(text("SELECT count(*) FROM disclosure")).scalar_one() == 1
        # Not cascaded away by a table rebuild.
        assert conn.execute(text("SELECT count(*) FROM disclosure_client")).scalar_one() == 1
