"""The consent store and the ``tactful consent`` commands, on a real SQLite
file and (when TACTFUL_TEST_DATABASE_URL is set) a real PostgreSQL schema."""

from __future__ import annotations

import dataclasses
import io
import json
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text

from proxy.cli import main
from proxy.core.consent import CSV_COLUMNS, Channel, ConsentStatus, Registry
from proxy.store.consent_csv import read_consent_csv
from proxy.store.consent_store import ConsentRow, ConsentStore, ConsentStoreError, ImportSummary
from proxy.store.db import make_engine, session_factory

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "config" / "consent.example.csv"
HEADER = ",".join(CSV_COLUMNS)
ROW_EMAIL = (
    "C-1,Maria Lopez,Mari Lopez,maria.lopez@example.com,email,self,granted,2025-09-01,,no,"
    "CASE-2026-00412,"
)
ROW_SMS = "C-1,Maria Lopez,Mari Lopez,(312) 555-0142,sms,self,granted,2025-09-01,,yes,,"
ROW_OTHER = "C-2,Kevin Tran,,kevin@example.net,email,self,granted,2026-01-20,,yes,,"
T0 = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)



@pytest.fixture
def store(engine: Engine) -> ConsentStore:
    return ConsentStore(engine)


def records(*rows: str) -> list:  # type: ignore[type-arg]
    return read_consent_csv(io.StringIO("\n".join([HEADER, *rows]) + "\n"))


def write_csv(path: Path, *rows: str, header: str = HEADER) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


# --- store -----------------------------------------------------------------


def test_import_then_list_returns_the_same_records(store: ConsentStore) -> None:
    example = read_consent_csv(EXAMPLE)
    summary = store.import_records(example, at=T0)
    assert summary == ImportSummary(created=len(example))
    assert sorted(store.list(), key=repr) == sorted(example, key=repr)
    assert {r.client_id for r in store.list("C-1001")} == {"C-1001"}
    assert len(store.list("C-1001")) == 3
    assert store.list("nobody") == []


def test_reimport_is_an_upsert(store: ConsentStore) -> None:
    store.import_records(records(ROW_EMAIL, ROW_SMS), at=T0)
    again = store.import_records(records(ROW_EMAIL, ROW_SMS), at=T0)
    assert again == ImportSummary(unchanged=2)
    changed = ROW_SMS.replace(",yes,", ",no,")
    summary = store.import_records(records(ROW_EMAIL, changed, ROW_OTHER), at=T0)
    assert summary == ImportSummary(created=1, updated=1, unchanged=1)
    sms = [r for r in store.list("C-1") if r.channel is Channel.SMS]
    assert [r.preferred for r in sms] == [False]
    assert store.count() == 3


def test_import_of_duplicate_records_is_refused(store: ConsentStore) -> None:
    (record,) = records(ROW_EMAIL)
    with pytest.raises(ConsentStoreError, match="repeats an earlier record"):
        store.import_records([record, record], at=T0)
    assert store.count() == 0


def test_failed_import_on_postgres_changes_nothing(store: ConsentStore, engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("relies on PostgreSQL enforcing column lengths")
    store.import_records(records(ROW_EMAIL), at=T0)
    (good_update,) = records(ROW_EMAIL.replace(",no,", ",yes,"))
    (new,) = records(ROW_OTHER)
    too_long = dataclasses.replace(new, address="x" * 330 + "@example.com")
    with pytest.raises(ConsentStoreError, match="nothing was imported"):
        store.import_records([good_update, new, too_long], at=T0)
    assert [r.preferred for r in store.list()] == [False]


def test_failed_import_on_sqlite_changes_nothing(store: ConsentStore, engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("uses a SQLite trigger to make the database refuse a row")
    store.import_records(records(ROW_EMAIL), at=T0)
    with engine.begin() as connection:
        connection.execute(
            text(
                "CREATE TRIGGER refuse BEFORE INSERT ON consent WHEN NEW.client_id = 'C-2' "
                "BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        )
    batch = records(ROW_EMAIL.replace(",no,", ",yes,"), ROW_SMS, ROW_OTHER)
    with pytest.raises(ConsentStoreError, match="nothing was imported"):
        store.import_records(batch, at=T0)
    assert store.count() == 1
    assert [r.preferred for r in store.list()] == [False]


def test_revoke_every_channel_of_a_client(store: ConsentStore, engine: Engine) -> None:
    store.import_records(records(ROW_EMAIL, ROW_SMS, ROW_OTHER), at=T0)
    assert store.revoke("C-1", evidence="client phoned 2026-03-02", at=T0) == 2
    assert {r.status for r in store.list("C-1")} == {ConsentStatus.REVOKED}
    assert {r.status for r in store.list("C-2")} == {ConsentStatus.GRANTED}
    with session_factory(engine)() as session:
        rows = session.scalars(select(ConsentRow).where(ConsentRow.client_id == "C-1")).all()
    assert {r.revocation_evidence for r in rows} == {"client phoned 2026-03-02"}
    assert all(r.revoked_at is not None for r in rows)
    assert all(r.revoked_at.replace(tzinfo=r.revoked_at.tzinfo or UTC) == T0 for r in rows)
    # Already revoked: nothing more to do, original evidence kept.
    assert store.revoke("C-1", evidence="second call", at=T0 + timedelta(days=1)) == 0
    with session_factory(engine)() as session:
        evidence = session.scalars(select(ConsentRow.revocation_evidence)).all()
    assert "second call" not in evidence


def test_backdated_revocation_still_moves_updated_at_forward(
    store: ConsentStore, engine: Engine
) -> None:
    # Running proxies reload the registry when the latest updated_at changes.
    store.import_records(records(ROW_EMAIL, ROW_SMS), at=T0)
    latest = select(func.max(ConsentRow.updated_at))
    with session_factory(engine)() as session:
        before = session.scalar(latest)
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)
    assert store.revoke("C-1", channel=Channel.SMS, evidence="letter on file", at=long_ago) == 1
    with session_factory(engine)() as session:
        after = session.scalar(latest)
        revoked_at = session.scalar(
            select(ConsentRow.revoked_at).where(ConsentRow.channel == "sms")
        )
    assert before is not None and after is not None and after > before
    assert revoked_at is not None
    assert revoked_at.replace(tzinfo=revoked_at.tzinfo or UTC) == long_ago


def test_revoke_one_address_or_channel(store: ConsentStore) -> None:
    store.import_records(records(ROW_EMAIL, ROW_SMS), at=T0)
    assert store.revoke("C-1", channel=Channel.SMS, evidence="text STOP", at=T0) == 1
    by_channel = {r.channel: r.status for r in store.list("C-1")}
    assert by_channel == {Channel.EMAIL: ConsentStatus.GRANTED, Channel.SMS: ConsentStatus.REVOKED}
    assert store.revoke("C-1", address="other@example.com", evidence="x", at=T0) == 0
    assert store.revoke("C-1", address="maria.lopez@example.com", evidence="x", at=T0) == 1


def test_revoke_needs_evidence_and_an_aware_time(store: ConsentStore) -> None:
    store.import_records(records(ROW_EMAIL), at=T0)
    with pytest.raises(ValueError, match="evidence"):
        store.revoke("C-1", evidence="  ", at=T0)
    with pytest.raises(ValueError, match="timezone-aware"):
        store.revoke("C-1", evidence="phoned", at=datetime(2026, 3, 2, 9, 0))
    assert {r.status for r in store.list()} == {ConsentStatus.GRANTED}


def test_reimporting_an_old_export_does_not_undo_a_revocation(store: ConsentStore) -> None:
    store.import_records(records(ROW_EMAIL, ROW_SMS), at=T0)
    store.revoke("C-1", channel=Channel.EMAIL, evidence="client wrote in", at=T0)
    summary = store.import_records(records(ROW_EMAIL, ROW_SMS), at=T0)
    assert summary == ImportSummary(unchanged=1, kept_revoked=1)
    email = next(r for r in store.list() if r.channel is Channel.EMAIL)
    assert email.status is ConsentStatus.REVOKED
    # A new consent, signed after the revocation, does grant again.
    renewed = ROW_EMAIL.replace("2025-09-01", "2026-04-01")
    summary = store.import_records(records(renewed, ROW_SMS), at=T0)
    assert summary == ImportSummary(updated=1, unchanged=1)
    email = next(r for r in store.list() if r.channel is Channel.EMAIL)
    assert email.status is ConsentStatus.GRANTED
    assert email.granted_on == date(2026, 4, 1)


def test_import_marking_a_row_revoked_records_when(store: ConsentStore, engine: Engine) -> None:
    store.import_records(records(ROW_EMAIL), at=T0)
    store.import_records(records(ROW_EMAIL.replace(",granted,", ",revoked,")), at=T0)
    with session_factory(engine)() as session:
        (row,) = session.scalars(select(ConsentRow)).all()
    assert row.status == "revoked"
    assert row.revoked_at is not None
    assert row.revocation_evidence


def test_snapshot_is_an_indexed_registry(store: ConsentStore) -> None:
    store.import_records(read_consent_csv(EXAMPLE), at=T0)
    registry = store.snapshot()
    assert isinstance(registry, Registry)
    assert len(registry) == len(read_consent_csv(EXAMPLE))
    (sms,) = registry.for_address("+13125550142")
    assert sms.client_id == "C-1001" and sms.preferred
    maria = registry.clients()["C-1001"]
    assert "Maria Lopez" in maria.names and "Mari Lopez" in maria.names
    # The school counsellor is an authorized contact, not a name of the client.
    assert "Dana Whitfield" not in maria.names
    assert "CASE-2026-00412" in maria.identifiers
    rows = registry.rows_for_client("C-1001")
    assert rows and all(r.client_id == "C-1001" for r in rows)
    assert rows == tuple(r for r in registry.records if r.client_id == "C-1001")
    assert sms in rows
    assert registry.rows_for_client("C-0000") == ()


def test_row_repr_has_no_client_data(store: ConsentStore, engine: Engine) -> None:
    store.import_records(records(ROW_EMAIL), at=T0)
    with session_factory(engine)() as session:
        (row,) = session.scalars(select(ConsentRow)).all()
    assert "Maria" not in repr(row) and "example.com" not in repr(row)


# --- CLI -------------------------------------------------------------------


def cli(*argv: str) -> int:
    return main(list(argv))


def test_cli_import_list_export_round_trip(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli("consent", "import", str(EXAMPLE), "--db", db_url) == 0
    out = capsys.readouterr().out
    rows = len(read_consent_csv(EXAMPLE))
    assert f"{rows} new" in out
    assert cli("consent", "list", "--json", "--db", db_url) == 0
    listed = json.loads(capsys.readouterr().out)
    assert len(listed) == rows
    states = {(r["client_id"], r["channel"], r["relationship"]): r["state"] for r in listed}
    assert states[("C-1002", "email", "self")] == "revoked"
    assert states[("C-1003", "email", "self")] == "expired"
    assert states[("C-1004", "sms", "self")] == "granted"
    exported = tmp_path / "export.csv"
    assert cli("consent", "export", "-o", str(exported), "--db", db_url) == 0
    assert sorted(read_consent_csv(exported), key=repr) == sorted(
        read_consent_csv(EXAMPLE), key=repr
    )
    assert cli("consent", "export", "--db", db_url) == 0
    stdout = capsys.readouterr().out
    assert read_consent_csv(io.StringIO(stdout)) == read_consent_csv(exported)


def test_cli_list_table_and_unknown_client(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli("consent", "list", "--db", db_url) == 0
    assert "No consent records yet" in capsys.readouterr().out
    assert cli("consent", "import", str(EXAMPLE), "--db", db_url) == 0
    capsys.readouterr()
    assert cli("consent", "list", "--client", "C-1004", "--db", db_url) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["CLIENT", "NAME"]
    assert len(lines) == 2 and "+13125550177" in lines[1]
    assert cli("consent", "list", "--client", "C-9999", "--db", db_url) == 1
    assert "no consent records for client 'C-9999'" in capsys.readouterr().err


def test_cli_import_from_stdin(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = ("\ufeff" + HEADER + "\r\n" + ROW_EMAIL + "\r\n").encode("utf-8")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert cli("consent", "import", "-", "--db", db_url) == 0
    assert "from <stdin>: 1 new" in capsys.readouterr().out


BAD_FILES = {
    "bad channel": ([ROW_EMAIL, ROW_SMS.replace(",sms,", ",fax,")], 3, "channel"),
    "bad date": ([ROW_EMAIL.replace("2025-09-01", "2025-13-01")], 2, "granted_on"),
    "bad email": ([ROW_SMS, ROW_EMAIL.replace("@example.com", "@example")], 3, "address"),
    "bad phone": ([ROW_SMS.replace("(312) 555-0142", "555-01")], 2, "address"),
    "duplicate": ([ROW_EMAIL, ROW_SMS, ROW_EMAIL.replace("maria.", "MARIA.")], 4, "address"),
    "expires before granted": (
        [ROW_EMAIL.replace("2025-09-01,,", "2025-09-01,2025-08-31,")], 2, "expires_on",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_cli_import_errors_name_line_and_column_and_import_nothing(
    case: str, db_url: str, store: ConsentStore, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows, line, column = BAD_FILES[case]
    path = write_csv(tmp_path / "consent.csv", *rows, ROW_OTHER)
    assert cli("consent", "import", str(path), "--db", db_url) == 1
    err = capsys.readouterr().err
    assert f"{path}:{line}: column '{column}':" in err
    assert "nothing was imported" in err
    assert "Traceback" not in err
    assert store.count() == 0


def test_cli_wrong_header_imports_nothing_and_keeps_existing_rows(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli("consent", "import", str(write_csv(tmp_path / "ok.csv", ROW_EMAIL)), "--db",
               db_url) == 0
    bad = write_csv(tmp_path / "bad.csv", ROW_OTHER, header=HEADER.replace("status", "state"))
    assert cli("consent", "import", str(bad), "--db", db_url) == 1
    err = capsys.readouterr().err
    assert f"{bad}:1: bad header: missing column(s): status" in err
    assert "unexpected column(s): 'state'" in err
    engine = make_engine(db_url)
    try:
        assert [r.client_id for r in ConsentStore(engine).list()] == ["C-1"]
    finally:
        engine.dispose()


def test_cli_import_missing_file_is_a_usage_error(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli("consent", "import", str(tmp_path / "nope.csv"), "--db", db_url) == 2
    assert "cannot read" in capsys.readouterr().err


def test_cli_revoke(db_url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = write_csv(tmp_path / "c.csv", ROW_EMAIL, ROW_SMS, ROW_OTHER)
    assert cli("consent", "import", str(path), "--db", db_url) == 0
    capsys.readouterr()
    # The number is written the way a worker would type it; it is normalised.
    assert cli("consent", "revoke", "C-1", "--address", "312-555-0142", "--evidence",
               "client texted STOP", "--db", db_url) == 0
    assert "Revoked 1 consent row(s)" in capsys.readouterr().out
    engine = make_engine(db_url)
    try:
        status = {r.channel: r.status for r in ConsentStore(engine).list("C-1")}
    finally:
        engine.dispose()
    assert status == {Channel.EMAIL: ConsentStatus.GRANTED, Channel.SMS: ConsentStatus.REVOKED}
    # Again: already revoked, nothing to do, still success.
    assert cli("consent", "revoke", "C-1", "--channel", "sms", "--evidence", "again", "--db",
               db_url) == 0
    assert "already revoked" in capsys.readouterr().out
    assert cli("consent", "revoke", "C-404", "--evidence", "x", "--db", db_url) == 1
    assert "no consent records for client 'C-404'" in capsys.readouterr().err
    assert cli("consent", "revoke", "C-1", "--address", "not a number", "--evidence", "x",
               "--db", db_url) == 2
    err = capsys.readouterr().err
    assert "--address is not a phone number" in err
    assert "not a number" not in err  # the typed value is not echoed
    assert cli("consent", "revoke", "C-1", "--channel", "sms", "--address",
               "maria.lopez@example.com", "--evidence", "x", "--db", db_url) == 2
    assert "needs --address to be a phone number" in capsys.readouterr().err


def test_cli_revoke_requires_evidence(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli("consent", "revoke", "C-1", "--db", db_url)
    assert info.value.code == 2
    assert "--evidence" in capsys.readouterr().err


def test_cli_bad_database_url_is_a_clear_usage_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    assert cli("consent", "list", "--db", "nonsense://") == 2
    err = capsys.readouterr().err
    assert "database" in err and "Traceback" not in err
    unreachable = "postgresql+psycopg://nobody:secret@127.0.0.1:1/none?connect_timeout=2"
    assert cli("consent", "list", "--db", unreachable) == 2
    err = capsys.readouterr().err
    assert "cannot open the database" in err
    assert "secret" not in err
