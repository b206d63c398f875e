"""The consent and audit pages tell the truth, and forms say what is wrong
where it is wrong: expired consent is counted and shown as expired, form
errors are tied to their fields by label (not by CSV column name), an
email row with a typo is told it is not an email address, a failed login
keeps the name, and checking the audit trail records what the check found.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from proxy.store.audit import AuditTrail
from tests.support.web_fixtures import (
    ADMIN,
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


def _form(token: str, cid: str, **changes: str) -> dict[str, str]:
    form = {"csrf": token, "client_id": cid, "name": "Rosa Diaz", "aliases": "",
            "address": "rosa.diaz@example.com", "channel": "email", "relationship": "self",
            "granted_on": "2025-01-05", "evidence": "signed form"}  # fmt: skip
    return {**form, **changes}


@pytest.mark.parametrize(
    ("expires_on", "state"),
    [("2026-12-03", "Expired"), ("2026-12-31", "Granted"), ("", "Granted")],
)
def test_consent_shows_expired_as_expired(world: World, expires_on: str, state: str) -> None:
    """The world's clock reads Friday 4 December 2026 (UTC)."""
    cid = f"C-{uuid.uuid4().hex[:10]}"
    with TestClient(world.app, follow_redirects=False) as client:
        login(client, REVIEWER)
        added = client.post("/consent/add", data=_form(session_token(client), cid,
                                                       expires_on=expires_on))  # fmt: skip
        assert added.status_code == 303
        listing = client.get(f"/consent?q={cid}")
        page = client.get(f"/consent/client/{cid}")
    row = re.search(
        rf"<a href=\"/consent/client/{cid}\"[^>]*>{cid}</a>.*?</tr>", listing.text, re.S
    )
    assert row is not None
    counts = dict(re.findall(r'data-label="(Granted|Expired|Revoked)">(\d+)<', row.group(0)))
    expected = {"Granted": "0", "Expired": "0", "Revoked": "0", state: "1"}
    assert counts == expected
    assert f'data-label="Status"><strong>{state}</strong>' in page.text
    # Only a granted row can be revoked; each revoke control names its address.
    revoke = 'Revoke<span class="sr"> consent for rosa.diaz@example.com (email)</span>'
    assert (revoke in page.text) is (state == "Granted")


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"address": "rosa.diaz.example.com"}, "address", "email address"),
        ({"granted_on": "5 Jan"}, "granted_on", "YYYY-MM-DD"),
        ({"address": "ana@example.com", "channel": "sms"}, "channel", "an email address"),
        ({"evidence": ""}, "evidence", "who agreed"),
    ],
)
def test_form_errors_are_tied_to_their_fields(
    world: World, changes: dict[str, str], field: str, words: str
) -> None:
    cid = f"C-{uuid.uuid4().hex[:10]}"
    with TestClient(world.app, follow_redirects=False) as client:
        login(client, REVIEWER)
        page = client.post("/consent/add", data=_form(session_token(client), cid, **changes))
    assert page.status_code == 422
    html = page.text
    control = re.search(rf'<(?:input|select|textarea) id="{field}"[^>]*>', html)
    assert control is not None
    assert 'aria-invalid="true"' in control.group(0)
    assert f'aria-describedby="{field}-error"' in control.group(0)
    assert "autofocus" in control.group(0)  # focus moves to the first wrong field
    message = re.search(rf'<p class="field-error" id="{field}-error">([^<]+)</p>', html)
    assert message is not None and words in message.group(1)
    # The summary names the field by its label, linked to it; not "granted_on:".
    summary = re.search(r'<div class="error" role="alert"[^>]*>(.*?)</div>', html, re.S)
    assert summary is not None
    assert f'<a href="#{field}">' in summary.group(1)
    assert f"{field}:" not in summary.group(1)
    assert "is not a phone number" not in html


def test_a_failed_login_keeps_the_name(world: World) -> None:
    with TestClient(world.app, follow_redirects=False) as client:
        form = client.get("/login?next=/consent")
        failed = client.post(
            "/login",
            data={"name": REVIEWER, "password": "wrong", "csrf": csrf_of(form.text),
                  "next": "/consent"},
        )  # fmt: skip
    assert failed.status_code == 401
    name = re.search(r'<input id="name"[^>]*>', failed.text)
    password = re.search(r'<input id="password"[^>]*>', failed.text)
    assert name is not None and password is not None
    assert f'value="{REVIEWER}"' in name.group(0)
    assert 'aria-invalid="true"' in password.group(0) and "autofocus" in password.group(0)
    assert 'name="next" value="/consent"' in failed.text


def test_checking_the_audit_trail_records_its_result(world: World) -> None:
    with TestClient(world.app, follow_redirects=False) as client:
        login(client, ADMIN)
        assert client.get("/audit").status_code == 200
        checked = client.get("/audit?verify=1")
    assert checked.status_code == 200 and "The trail is intact" in checked.text
    entries = AuditTrail(world.services.engine).entries()
    views = [e for e in entries if e.action == "audit.view"]
    checks = [e for e in entries if e.action == "audit.verify"]
    assert len(views) == 1 and "verified" not in views[0].details
    [check] = checks
    assert check.details["result"] == "intact"
    assert isinstance(check.details["checked"], int) and check.details["checked"] >= 1
