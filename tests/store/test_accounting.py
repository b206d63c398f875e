"""The accounting of disclosures: purpose, party, reviewer and Part 2
notice are recorded with each entry (real SQLite and PostgreSQL), read back
by period, printed by ``tactful disclosures`` as table, JSON and CSV, and
purged past the retention period with an audit entry that holds a count."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine

from proxy.cli import main
from proxy.core.findings import Category, Entity, Finding
from proxy.core.verdict import (
    Action,
    Recipient,
    RecipientKind,
    RecipientVerdict,
    ReleaseTerms,
    Verdict,
)
from proxy.pipeline.accounting import FIELDS
from proxy.store.audit import AuditTrail
from proxy.store.disclosures import (
    DisclosureLog,
    DisclosureRecorder,
    disclosures_from_summary,
    purge_expired,
    retention_cutoff,
)
from proxy.store.spool_summary import summarize

T0 = datetime(2026, 3, 2, 15, 30, tzinfo=UTC)  # 09:30 in Chicago
COUNSEL = Recipient("dortiz@ortiz-law.example.com", RecipientKind.AUTHORIZED, "email",
                    frozenset({"C-6"}))  # fmt: skip
CLIENT = Recipient("alex@example.com", RecipientKind.CLIENT, "email", frozenset({"C-6"}))
TERMS = ReleaseTerms(
    recipient=COUNSEL.address, client_id="C-6", recipient_name="Dana Ortiz, attorney",
    scope=("substance_use",), purpose="legal representation", part2=True,
)  # fmt: skip
USE = Finding(Entity.SENSITIVE_CONDITION, "body", 0, 9, 0.9, "conditions", text="methadone",
              category=Category.SUBSTANCE_USE, about_person=True, client_id="C-6")  # fmt: skip


def verdict(*recipients: Recipient, part2: bool = True) -> Verdict:
    return Verdict(
        verdict=Action.WARN, enforced=Action.WARN, mode="enforce",
        recipients=tuple(RecipientVerdict(r, Action.WARN, ()) for r in recipients),
        hits=(), findings=(USE,), terms=(TERMS,), part2_notice=part2,
    )  # fmt: skip



def test_a_direct_delivery_records_purpose_party_and_notice(engine: Engine) -> None:
    DisclosureRecorder(engine).record("m-1", verdict(COUNSEL, CLIENT), T0)
    by_recipient = {d.recipient: d for d in DisclosureLog(engine).for_client("C-6")}
    counsel = by_recipient[COUNSEL.address]
    assert (counsel.purpose, counsel.recipient_name) == (
        "legal representation", "Dana Ortiz, attorney"
    )
    assert counsel.part2_notice is True and counsel.released_by is None
    # The client's own copy: no release, so no purpose; it had the notice too.
    own = by_recipient[CLIENT.address]
    assert own.purpose is None and own.recipient_name is None and own.part2_notice


def test_released_mail_names_the_reviewer() -> None:
    from proxy.store.disclosures import DisclosureRecipient

    summary = summarize(verdict(COUNSEL))
    planned = disclosures_from_summary(
        "m-2", summary, [DisclosureRecipient(COUNSEL.address, "authorized", "email", ("C-6",))],
        T0, released_by="sam@example.org",
    )  # fmt: skip
    (entry,) = planned
    assert entry.released_by == "sam@example.org" and entry.part2_notice
    assert entry.purpose == "legal representation"


def test_reading_by_period(engine: Engine) -> None:
    recorder = DisclosureRecorder(engine)
    for day in range(3):
        recorder.record(f"m-{day}", verdict(COUNSEL), T0 + timedelta(days=day))
    log = DisclosureLog(engine)
    assert [d.message_id for d in log.for_client("C-6", since=T0 + timedelta(days=1))] == [
        "m-1", "m-2"
    ]
    assert [d.message_id for d in log.for_client("C-6", until=T0 + timedelta(days=1))] == ["m-0"]


def test_cli_formats_and_period(
    db_url: str, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    recorder = DisclosureRecorder(engine)
    recorder.record("m-early", verdict(COUNSEL), T0 - timedelta(days=10))
    recorder.record("m-1", verdict(COUNSEL, part2=False), T0)
    db = ["--db", db_url]
    assert main(["disclosures", "C-6", "--since", "2026-03-02", "--format", "csv", *db]) == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert tuple(rows[0]) == FIELDS
    (row,) = [dict(zip(FIELDS, r, strict=True)) for r in rows[1:]]
    assert row["date"] == "2026-03-02T09:30-06:00"  # the agency's time zone
    assert (row["recipient_name"], row["recipient_address"]) == (
        "Dana Ortiz, attorney", COUNSEL.address
    )
    assert row["channel"] == "email" and "substance use" in row["description"]
    assert (row["purpose"], row["reviewed"], row["part2_notice"]) == (
        "legal representation", "no", "no"
    )
    assert main(["disclosures", "C-6", "--until", "2026-03-01", "--format", "json", *db]) == 0
    (early,) = json.loads(capsys.readouterr().out)
    assert early["message_id"] == "m-early" and early["part2_notice"] is True
    assert early["purpose"] == "legal representation" and early["reviewed"] is False
    assert main(["disclosures", "C-6", *db]) == 0
    table = capsys.readouterr().out
    assert "Dana Ortiz, attorney <dortiz@ortiz-law.example.com>" in table
    assert "notice attached" in table and "legal representation" in table


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--since", "02/03/2026"], "--since must be a date written YYYY-MM-DD"),
        (["--until", "yesterday"], "--until must be a date written YYYY-MM-DD"),
        (["--since", "2026-03-05", "--until", "2026-03-01"], "--until is before --since"),
        (["--json", "--format", "csv"], "contradict"),
    ],
)
def test_cli_bad_input_gets_a_clear_answer(
    db_url: str, args: list[str], says: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["disclosures", "C-6", *args, "--db", db_url]) == 2
    assert says in capsys.readouterr().err


def test_cli_empty_csv_is_just_the_header(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["disclosures", "C-9", "--format", "csv", "--db", db_url]) == 0
    assert capsys.readouterr().out == ",".join(FIELDS) + "\n"


def test_retention_purge_keeps_the_period_and_is_audited_with_a_count(engine: Engine) -> None:
    recorder = DisclosureRecorder(engine)
    now = T0
    cutoff = retention_cutoff(now, 6)
    assert cutoff == datetime(2020, 3, 2, 15, 30, tzinfo=UTC)
    recorder.record("old-1", verdict(COUNSEL), cutoff - timedelta(days=1))
    recorder.record("old-2", verdict(CLIENT), cutoff - timedelta(seconds=1))
    recorder.record("kept", verdict(COUNSEL), cutoff)
    assert purge_expired(engine, now=now, retention_years=6) == 2
    assert [d.message_id for d in DisclosureLog(engine).for_client("C-6")] == ["kept"]
    entries = [e for e in AuditTrail(engine).entries() if e.action == "disclosures.purge"]
    (entry,) = entries
    assert entry.details == {"deleted": 2, "retention_years": 6}
    assert entry.target is None
    # Nothing more to purge: no new entry.
    assert purge_expired(engine, now=now, retention_years=6) == 0
    assert len([e for e in AuditTrail(engine).entries() if e.action == "disclosures.purge"]) == 1
    assert AuditTrail(engine).verify().ok


def test_cutoff_on_the_29th_of_february() -> None:
    leap = datetime(2028, 2, 29, 12, 0, tzinfo=UTC)
    assert retention_cutoff(leap, 6) == datetime(2022, 2, 28, 12, 0, tzinfo=UTC)
