"""The release-terms columns of the consent CSV: optional, validated cell
by cell with line and column, all-or-nothing, exported and imported back
unchanged; files without them read exactly as before."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from proxy.cli import main
from proxy.core.consent import CSV_COLUMNS, SCOPE_COLUMNS
from proxy.store.consent_csv import ConsentCsvError, read_consent_csv, write_consent_csv
from proxy.store.consent_store import ConsentStore
from proxy.store.db import make_engine
from proxy.store.migrations import upgrade

EXAMPLE = Path(__file__).resolve().parents[2] / "config" / "consent.example.csv"
LEGACY = ",".join(CSV_COLUMNS)
FULL = ",".join((*CSV_COLUMNS, *SCOPE_COLUMNS))
SELF = "C-6,Alex Morgan,,alex@example.com,email,self,granted,2026-03-01,,yes,,"
RELEASE = "C-6,Dana Ortiz,,dana@law.example,email,authorized,granted,2026-03-01,,no,,"
T0 = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)


def read(text: str) -> list:  # type: ignore[type-arg]
    return read_consent_csv(io.StringIO(text), source="consent.csv")


def problems(text: str) -> list[tuple[int, str | None, str]]:
    with pytest.raises(ConsentCsvError) as caught:
        read(text)
    return [(e.line, e.column, e.message) for e in caught.value.errors]


def test_terms_are_read() -> None:
    text = (
        f"{FULL}\n{SELF},,,,yes\n"
        f'{RELEASE},"Dana Ortiz, attorney",Substance_Use; identifiers,legal representation,\n'
    )
    own, release = read(text)
    assert own.part2 and own.scope == () and own.recipient_name == ""
    assert release.recipient_name == "Dana Ortiz, attorney"
    assert release.scope == ("substance_use", "identifiers")
    assert release.purpose == "legal representation" and not release.part2
    assert release.covers("substance_use") and not release.covers("mental_health")
    assert own.covers("mental_health")  # empty scope: no restriction


def test_a_subset_of_the_optional_columns_in_any_order() -> None:
    (release,) = read(f"{LEGACY},part2,scope\n{RELEASE},yes,hiv_sti\n")
    assert release.part2 and release.scope == ("hiv_sti",) and release.purpose == ""


def test_old_files_read_unchanged() -> None:
    (record,) = read(f"{LEGACY}\n{SELF}\n")
    terms = (record.scope, record.purpose, record.recipient_name, record.part2)
    assert terms == ((), "", "", False)


@pytest.mark.parametrize(
    ("row", "column", "says"),
    [
        (f"{RELEASE},,mental health,,", "scope", "item 1 'mental health' is not a category"),
        (f"{RELEASE},,substance_use;sud,,", "scope", "item 2 'sud' is not a category"),
        (f"{SELF},,substance_use,,", "scope", "leave it empty on the client's own rows"),
        (f"{RELEASE},,,,maybe", "part2", "must be 'yes' or 'no' (or empty for no), got 'maybe'"),
        (f"{RELEASE},{'x' * 201},,,", "recipient_name", "longer than 200 characters"),
        (f"{RELEASE},,,{'x' * 501},", "purpose", "longer than 500 characters"),
    ],
)
def test_a_bad_value_names_line_and_column(row: str, column: str, says: str) -> None:
    found = problems(f"{FULL}\n{SELF},,,,\n{row}\n")
    assert [(line, col) for line, col, _ in found] == [(3, column)]
    assert says in found[0][2]


def test_header_errors_name_the_optional_columns() -> None:
    found = problems(f"{LEGACY},scope,scope\n{RELEASE},,\n")
    assert "repeated column(s): scope" in found[0][2]
    found = problems(f"{LEGACY},scopes\n{RELEASE},\n")
    assert "unexpected column(s): 'scopes'" in found[0][2]
    assert ",".join(SCOPE_COLUMNS) in found[0][2]


def test_export_writes_the_terms_only_when_used_and_round_trips() -> None:
    plain = read(f"{LEGACY}\n{SELF}\n")
    out = io.StringIO()
    write_consent_csv(plain, out)
    assert out.getvalue().splitlines()[0] == LEGACY
    with_terms = read(f"{FULL}\n{SELF},,,,yes\n{RELEASE},\"Dana Ortiz, attorney\",hiv_sti,x,\n")
    out = io.StringIO()
    write_consent_csv(with_terms, out)
    assert out.getvalue().splitlines()[0] == FULL
    assert read(out.getvalue()) == with_terms


@pytest.fixture
def engine(db_url: str) -> Engine:
    engine = make_engine(db_url)
    upgrade(engine)
    return engine


def test_stored_and_listed_with_nothing_half_imported(
    engine: Engine, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = ConsentStore(engine)
    store.import_records(read_consent_csv(EXAMPLE), at=T0)
    (release,) = [r for r in store.list("C-1006") if r.relationship.value == "authorized"]
    assert (release.recipient_name, release.scope, release.purpose, release.part2) == (
        "Dana Ortiz, attorney", ("substance_use",), "legal representation", True
    )
    assert "C-1006" in store.snapshot().part2_clients
    assert "C-1001" not in store.snapshot().part2_clients
    # One bad cell: nothing of the file is imported, the good row included.
    bad = tmp_path / "bad.csv"
    bad.write_text(f"{FULL}\n{SELF.replace('C-6', 'C-77')},,,,\n{RELEASE},,anything,,\n")
    before = store.count()
    assert main(["consent", "import", str(bad), "--db", db_url]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:3: column 'scope': item 1 'anything'" in err
    assert "nothing was imported" in err and store.count() == before
    assert main(["consent", "list", "--client", "C-1006", "--json", "--db", db_url]) == 0
    listed = {r["relationship"]: r for r in json.loads(capsys.readouterr().out)}
    assert listed["authorized"]["scope"] == ["substance_use"]
    assert listed["authorized"]["purpose"] == "legal representation"
    assert listed["self"]["part2"] is True
    assert main(["consent", "list", "--client", "C-1006", "--db", db_url]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split()[-3:] == ["SCOPE", "PURPOSE", "PART2"]
    assert "substance_use" in table and "legal representation" in table
    engine.dispose()
