"""Consent registry pages: search, add with evidence, revoke, CSV import
with an error preview and nothing imported until the file is clean."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from proxy.core.consent import CSV_COLUMNS, ConsentStatus
from proxy.store.audit import AuditTrail
from proxy.store.consent_store import ConsentStore
from tests.support.web_fixtures import (
    AUDITOR,
    REVIEWER,
    World,
    build_world,
    csrf_of,
    login,
    session_token,
)


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> World:
    """On SQLite and on a throwaway PostgreSQL schema (``db_url`` in conftest)."""
    return build_world(tmp_path, db_url)


def client_id() -> str:
    """Unique per test: the PostgreSQL database is shared between runs."""
    return f"C-{uuid.uuid4().hex[:10]}"


def test_add_search_view_and_revoke_with_evidence(world: World) -> None:
    cid = client_id()
    store = ConsentStore(world.services.engine)
    with TestClient(world.app, follow_redirects=False) as client:
        login(client, REVIEWER)
        token = session_token(client)
        form = {"csrf": token, "client_id": cid, "name": "Rosa Diaz", "aliases": "Rosie Diaz",
                "address": "Rosa.Diaz@Example.com", "channel": "email", "relationship": "self",
                "granted_on": "2026-01-05", "evidence": ""}  # fmt: skip
        missing = client.post("/consent/add", data=form)
        assert missing.status_code == 422
        assert "evidence" in missing.text and store.count(cid) == 0
        bad_date = client.post(
            "/consent/add", data={**form, "evidence": "signed form", "granted_on": "5 Jan"}
        )
        assert bad_date.status_code == 422 and "granted_on" in bad_date.text
        added = client.post("/consent/add", data={**form, "evidence": "signed form 2026-01-05"})
        assert added.status_code == 303
        assert added.headers["location"] == f"/consent/client/{cid}?done=added"
        [record] = store.list(cid)
        assert record.address == "rosa.diaz@example.com"  # normalised like the CSV import
        assert "signed form 2026-01-05" in record.notes
        found = client.get("/consent?q=rosie")
        assert cid in found.text
        assert cid not in client.get("/consent?q=nobody-called-this").text
        page = client.get(added.headers["location"])
        assert "rosa.diaz@example.com" in page.text and "Consent added." in page.text
        no_evidence = client.post(
            f"/consent/client/{cid}/revoke",
            data={"csrf": token, "address": record.address, "channel": "email", "evidence": " "},
        )
        assert no_evidence.status_code == 422
        assert store.list(cid)[0].status is ConsentStatus.GRANTED
        revoked = client.post(
            f"/consent/client/{cid}/revoke",
            data={"csrf": token, "address": record.address, "channel": "email",
                  "evidence": "client phoned to withdraw"},
        )  # fmt: skip
        assert revoked.status_code == 303
    assert store.list(cid)[0].status is ConsentStatus.REVOKED
    actions = [(e.actor, e.action, e.target) for e in AuditTrail(world.services.engine).entries()]
    assert (REVIEWER, "consent.revoke", cid) in actions
    assert (REVIEWER, "consent.view", cid) in actions
    assert any(a == (REVIEWER, "consent.import", None) for a in actions)  # the add


def _csv(*rows: str) -> bytes:
    return ("\n".join([",".join(CSV_COLUMNS), *rows]) + "\n").encode()


def test_csv_import_previews_errors_and_imports_only_a_clean_file(world: World) -> None:
    good, other = client_id(), client_id()
    store = ConsentStore(world.services.engine)
    broken = _csv(
        f"{good},Ana Ruiz,,ana.ruiz@example.com,email,self,granted,2026-02-01,,no,,",
        f"{other},Ben Ode,,not-an-address,email,self,granted,2026-02-01,,no,,",
        f"{other},Ben Ode,,+13125550199,sms,friend,granted,2026-02-01,,no,,",
    )
    clean = _csv(
        f"{good},Ana Ruiz,,ana.ruiz@example.com,email,self,granted,2026-02-01,,no,,",
        f"{other},Ben Ode,,+13125550199,sms,self,granted,2026-02-01,,yes,,",
    )
    with TestClient(world.app, follow_redirects=False) as client:
        login(client, REVIEWER)
        token = session_token(client)
        errors = client.post(
            "/consent/import", data={"csrf": token},
            files={"file": ("clients.csv", broken, "text/csv")},
        )  # fmt: skip
        assert errors.status_code == 422
        assert "Nothing was imported" in errors.text
        assert "line 3" in errors.text and "line 4" in errors.text
        assert "relationship" in errors.text
        assert store.count(good) == 0
        preview = client.post(
            "/consent/import", data={"csrf": token},
            files={"file": ("clients.csv", clean, "text/csv")},
        )  # fmt: skip
        assert preview.status_code == 200
        assert "2 row(s) and no problems" in preview.text
        assert store.count(good) == 0  # a preview imports nothing
        hidden = re.search(r'name="csv_text" value="([^"]*)"', preview.text)
        assert hidden is not None
        imported = client.post(
            "/consent/import",
            data={"csrf": csrf_of(preview.text), "confirm": "yes",
                  "csv_text": clean.decode()},
        )  # fmt: skip
        assert imported.status_code == 200
        assert "Imported: 2 new" in imported.text
    assert store.count(good) == 1 and store.count(other) == 1


def test_auditor_can_search_but_not_change_consent(world: World) -> None:
    with TestClient(world.app, follow_redirects=False) as client:
        login(client, AUDITOR)
        assert client.get("/consent").status_code == 200
        assert "Add consent" not in client.get("/consent").text
        assert client.get("/consent/add").status_code == 403


def test_a_release_with_its_terms_is_added_shown_and_checked(world: World) -> None:
    cid = client_id()
    store = ConsentStore(world.services.engine)
    with TestClient(world.app, follow_redirects=False) as client:
        login(client, REVIEWER)
        form = {"csrf": session_token(client), "client_id": cid, "name": "Dana Ortiz",
                "address": "dortiz@ortiz-law.example.com", "channel": "email",
                "relationship": "authorized", "granted_on": "2026-03-01",
                "recipient_name": "Dana Ortiz, attorney", "purpose": "legal representation",
                "part2": "yes", "evidence": "release signed 2026-03-01"}  # fmt: skip
        page = client.get("/consent/add")
        assert 'name="scope" value="substance_use"' in page.text and 'name="part2"' in page.text
        bad = client.post("/consent/add", data={**form, "scope": ["substance_use", "gossip"]})
        assert bad.status_code == 422
        # Named by the field's label, linked to the field, and shown under it.
        assert (
            '<a href="#scope">What the release covers</a>: '
            "item 2 &#39;gossip&#39; is not a category" in bad.text
        )
        assert '<p class="field-error" id="scope-error">' in bad.text
        assert store.count(cid) == 0
        added = client.post("/consent/add", data={**form, "scope": ["substance_use"]})
        assert added.status_code == 303
        [record] = store.list(cid)
        assert (record.recipient_name, record.scope, record.purpose, record.part2) == (
            "Dana Ortiz, attorney", ("substance_use",), "legal representation", True
        )
        shown = client.get(f"/consent/client/{cid}").text
        assert "Dana Ortiz, attorney" in shown and "covers: substance use" in shown
        assert "purpose: legal representation" in shown and "42 CFR Part 2" in shown
