"""The printable accounting of disclosures in the review app: what it
shows, its CSV, its answers to bad input, and its audit entry (real
SQLite, real accounts, the real Starlette app)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
from starlette.testclient import TestClient

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
from proxy.store.db import session_factory
from proxy.store.disclosures import (
    DisclosureRecipient,
    DisclosureRecorder,
    disclosures_from_summary,
    record_all,
)
from proxy.store.spool_summary import summarize
from tests.support.web_fixtures import ADMIN, AUDITOR, World, build_world, login

AT = datetime(2026, 11, 30, 16, 5, tzinfo=UTC)  # 10:05 in Chicago
COUNSEL = Recipient("dortiz@ortiz-law.example.com", RecipientKind.AUTHORIZED, "email",
                    frozenset({"C-6"}))  # fmt: skip
USE = Finding(Entity.SENSITIVE_CONDITION, "body", 0, 9, 0.9, "conditions", text="methadone",
              category=Category.SUBSTANCE_USE, about_person=True, client_id="C-6")  # fmt: skip
TERMS = ReleaseTerms(COUNSEL.address, "C-6", "Dana Ortiz, attorney", ("substance_use",),
                     "legal representation", True)  # fmt: skip
VERDICT = Verdict(Action.WARN, Action.WARN, "enforce",
                  (RecipientVerdict(COUNSEL, Action.WARN, ()),), (), (USE,),
                  terms=(TERMS,), part2_notice=True)  # fmt: skip


@pytest.fixture
def world(tmp_path: Path) -> World:
    world = build_world(tmp_path, f"sqlite:///{tmp_path / 'web.db'}")
    engine = world.services.engine
    DisclosureRecorder(engine).record("direct-1", VERDICT, AT)
    released = disclosures_from_summary(
        "released-2", summarize(VERDICT),
        [DisclosureRecipient(COUNSEL.address, "authorized", "email", ("C-6",))],
        AT.replace(day=29), released_by="sam@example.org",
    )  # fmt: skip
    with session_factory(engine).begin() as session:
        record_all(session, released)
    return world


@pytest.mark.parametrize("role", [ADMIN, AUDITOR])
def test_the_page_lists_each_disclosure_in_plain_words(world: World, role: str) -> None:
    with TestClient(world.app, follow_redirects=False) as client:
        assert login(client, role).status_code == 303
        page = client.get("/disclosures", params={"client": "C-6"})
    assert page.status_code == 200
    text = page.text
    assert text.index("Sun 29 Nov 2026, 10:05") < text.index("Mon 30 Nov 2026, 10:05")
    assert text.count("Dana Ortiz, attorney") == 2 and "dortiz@ortiz-law.example.com" in text
    assert text.count("legal representation") == 2
    assert "yes, released by sam@example.org" in text and ">no<" in text
    assert "substance use" in text and "attached" in text
    assert "methadone" not in text


def test_csv_download_and_period(world: World) -> None:
    with TestClient(world.app, follow_redirects=False) as client:
        login(client, AUDITOR)
        got = client.get(
            "/disclosures", params={"client": "C-6", "since": "2026-11-30", "format": "csv"}
        )
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    assert 'filename="disclosures-C-6.csv"' in got.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(got.text)))
    assert tuple(rows[0]) == FIELDS
    (row,) = [dict(zip(FIELDS, r, strict=True)) for r in rows[1:]]
    assert row["message_id"] == "direct-1" and row["part2_notice"] == "yes"


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"client": "C-6", "since": "30/11/2026"}, "&#39;From&#39; must be a date"),
        ({"client": "C-6", "until": "soon"}, "&#39;To&#39; must be a date"),
        ({"client": "C-6", "since": "2026-12-01", "until": "2026-11-01"}, "is before"),
        ({"client": "C" * 65}, "at most 64 characters"),
    ],
)
def test_bad_input_is_a_400_that_says_why(world: World, params: dict[str, str], says: str) -> None:
    with TestClient(world.app, follow_redirects=False) as client:
        login(client, ADMIN)
        page = client.get("/disclosures", params=params)
    assert page.status_code == 400
    assert says in page.text


def test_viewing_is_audited_with_the_client_id_only(world: World) -> None:
    with TestClient(world.app, follow_redirects=False) as client:
        login(client, ADMIN)
        assert client.get("/disclosures", params={"client": "C-6"}).status_code == 200
        assert client.get("/disclosures").status_code == 200  # the empty form: no entry
    entries = [e for e in AuditTrail(world.services.engine).entries()
               if e.action == "disclosures.view"]  # fmt: skip
    (entry,) = entries
    assert entry.actor == ADMIN and entry.target == "C-6" and entry.details == {"entries": 2}
    assert "ortiz" not in repr(entry).lower()
