"""Who may do what in the review app: every role against every route,
CSRF, four-eyes, and two reviewers deciding the same message at once.

Real SQLite (and PostgreSQL when configured), real argon2 accounts, the
real Starlette app through its ASGI interface.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from proxy.store.crypto import DecryptionError
from proxy.store.spool_model import SpoolState
from tests.support.web_fixtures import (
    ADMIN,
    AUDITOR,
    REVIEWER,
    REVIEWER2,
    WORKER,
    World,
    build_world,
    hold,
    login,
    session_token,
)

ANONYMOUS = "anonymous"


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> World:
    """One world for the permission matrix (accounts hash slowly, on purpose)."""
    tmp = tmp_path_factory.mktemp("web-matrix")
    return build_world(tmp, f"sqlite:///{tmp / 'web.db'}")


@dataclass(frozen=True)
class Case:
    method: str
    path: Callable[[str], str]  # message id -> path
    form: dict[str, str]
    # Expected status per role; a decision that is allowed changes the state.
    expect: dict[str, int]
    decides: SpoolState | None = None


ALLOWED_ALL = {REVIEWER: 200, ADMIN: 200, AUDITOR: 200}
CASES: dict[str, Case] = {
    "queue": Case("GET", lambda m: "/", {}, ALLOWED_ALL),
    "view message": Case("GET", lambda m: f"/messages/{m}", {}, ALLOWED_ALL),
    "redaction preview": Case(
        "GET", lambda m: f"/messages/{m}/redact", {}, {REVIEWER: 200, ADMIN: 200, AUDITOR: 403}
    ),
    "release": Case(
        "POST", lambda m: f"/messages/{m}/release", {"reason": "fine to send"},
        {REVIEWER: 303, ADMIN: 303, AUDITOR: 403}, SpoolState.RELEASED,
    ),
    "release with redactions": Case(
        "POST", lambda m: f"/messages/{m}/release-redacted",
        {"reason": "masked is fine", "digest": "x"},
        # Analysis is off in this world, so nothing can be masked: the
        # reviewer gets the plain explanation, the auditor a refusal.
        {REVIEWER: 200, ADMIN: 200, AUDITOR: 403},
    ),
    "return": Case(
        "POST", lambda m: f"/messages/{m}/return", {"reason": "remove the date of birth"},
        {REVIEWER: 303, ADMIN: 303, AUDITOR: 403}, SpoolState.RETURNED,
    ),
    "delete": Case(
        "POST", lambda m: f"/messages/{m}/delete", {"reason": "test message"},
        {REVIEWER: 403, ADMIN: 303, AUDITOR: 403}, SpoolState.DELETED,
    ),
    "audit trail": Case("GET", lambda m: "/audit", {}, {REVIEWER: 403, ADMIN: 200, AUDITOR: 200}),
    "accounting of disclosures": Case(
        "GET", lambda m: "/disclosures?client=C-1", {}, {REVIEWER: 403, ADMIN: 200, AUDITOR: 200}
    ),
    "consent search": Case("GET", lambda m: "/consent", {}, ALLOWED_ALL),
    "consent import form": Case(
        "GET", lambda m: "/consent/import", {}, {REVIEWER: 200, ADMIN: 200, AUDITOR: 403}
    ),
    "consent add": Case(
        "POST", lambda m: "/consent/add",
        {"client_id": "C-{id}", "name": "Test Client", "address": "c{id}@example.com",
         "channel": "email", "relationship": "self", "granted_on": "2026-01-05",
         "evidence": "signed form in the file"},
        {REVIEWER: 303, ADMIN: 303, AUDITOR: 403},
    ),
    "consent revoke": Case(
        "POST", lambda m: "/consent/client/C-NOBODY/revoke", {"evidence": "phone call"},
        {REVIEWER: 303, ADMIN: 303, AUDITOR: 403},
    ),
}  # fmt: skip


@pytest.mark.parametrize("case_name", list(CASES))
@pytest.mark.parametrize("role", [REVIEWER, ADMIN, AUDITOR, WORKER, ANONYMOUS])
def test_permission_matrix(shared: World, role: str, case_name: str) -> None:
    case = CASES[case_name]
    message = hold(shared)
    with TestClient(shared.app, follow_redirects=False) as client:
        if role == WORKER:
            refused = login(client, WORKER)
            assert refused.status_code == 403
            assert "cannot use the review app" in refused.text
        elif role != ANONYMOUS:
            assert login(client, role).status_code == 303
        path = case.path(message.id)
        if case.method == "GET":
            response = client.get(path)
        else:
            token = session_token(client) if role in case.expect else "no-session"
            form = {k: v.replace("{id}", message.id[:8]) for k, v in case.form.items()}
            response = client.post(path, data={**form, "csrf": token})
    after = shared.services.spool.get(message.id)
    assert after is not None
    if role in (WORKER, ANONYMOUS):
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login")
        assert after.state is SpoolState.HELD
        return
    expected = case.expect[role]
    assert response.status_code == expected, response.text[:500]
    if case.decides is not None:
        # A decision made answers 303 to its result page (POST, redirect, GET).
        made = expected == 303
        assert after.state is (case.decides if made else SpoolState.HELD)
        if made:
            assert response.headers["location"] == f"/messages/{message.id}/decided"
            assert after.decided_by == role
    else:
        # Viewing, a refused mask release, consent pages: the message stays held.
        assert after.state is SpoolState.HELD


def test_auditor_sees_the_queue_but_not_message_text(shared: World) -> None:
    message = hold(shared)
    with TestClient(shared.app, follow_redirects=False) as client:
        login(client, AUDITOR)
        page = client.get(f"/messages/{message.id}")
    assert page.status_code == 200
    assert "DOB: 03/14/1988" not in page.text
    assert "Your role can see why a message was held, but not its text." in page.text
    assert "date of birth" in page.text  # the stored finding is still listed
    assert "Release as sent" not in page.text
    with TestClient(shared.app, follow_redirects=False) as client:
        login(client, REVIEWER)
        page = client.get(f"/messages/{message.id}")
    assert "DOB: 03/14/1988" in page.text
    assert "Release as sent" in page.text


@pytest.mark.parametrize("token", [None, "", "forged-token-value-that-is-long-enough-000"])
def test_state_changing_forms_without_the_session_csrf_token_are_refused(
    shared: World, token: str | None
) -> None:
    message = hold(shared)
    with TestClient(shared.app, follow_redirects=False) as client:
        login(client, REVIEWER)
        form = {"reason": "fine"} if token is None else {"reason": "fine", "csrf": token}
        for action in ("release", "return"):
            response = client.post(f"/messages/{message.id}/{action}", data=form)
            assert response.status_code == 403
        consent = client.post("/consent/add", data={**form, "client_id": "C-X"})
        assert consent.status_code == 403
        logout = client.post("/logout", data=form)
        assert logout.status_code == 403
    after = shared.services.spool.get(message.id)
    assert after is not None and after.state is SpoolState.HELD


def test_another_sessions_csrf_token_does_not_work(shared: World) -> None:
    message = hold(shared)
    with TestClient(shared.app, follow_redirects=False) as other:
        login(other, REVIEWER2)
        foreign = session_token(other)
    with TestClient(shared.app, follow_redirects=False) as client:
        login(client, REVIEWER)
        response = client.post(
            f"/messages/{message.id}/release", data={"reason": "ok", "csrf": foreign}
        )
    assert response.status_code == 403
    assert shared.services.spool.get(message.id).state is SpoolState.HELD  # type: ignore[union-attr]


def test_login_form_needs_its_double_submit_token(shared: World) -> None:
    with TestClient(shared.app, follow_redirects=False) as client:
        client.get("/login")
        response = client.post(
            "/login", data={"name": REVIEWER, "password": "long-test-password-42", "csrf": "x" * 40}
        )
    assert response.status_code == 403
    assert "tactful_session" not in response.headers.get("set-cookie", "")


def test_a_reason_is_required_for_every_decision(shared: World) -> None:
    message = hold(shared)
    with TestClient(shared.app, follow_redirects=False) as client:
        login(client, ADMIN)
        token = session_token(client)
        for action in ("release", "return", "delete"):
            response = client.post(
                f"/messages/{message.id}/{action}", data={"reason": "   ", "csrf": token}
            )
            assert response.status_code == 422
            assert "reason" in response.text
    assert shared.services.spool.get(message.id).state is SpoolState.HELD  # type: ignore[union-attr]


def test_four_eyes_a_reviewer_cannot_decide_on_their_own_message(shared: World) -> None:
    own = hold(shared, sender=REVIEWER)
    with TestClient(shared.app, follow_redirects=False) as client:
        login(client, REVIEWER)
        page = client.get(f"/messages/{own.id}")
        assert "another reviewer must decide" in page.text
        assert f'action="/messages/{own.id}/release"' not in page.text
        token = session_token(client)
        for action in ("release", "return"):
            response = client.post(
                f"/messages/{own.id}/{action}", data={"reason": "mine is fine", "csrf": token}
            )
            assert response.status_code == 403
            assert "someone else" in response.text
        preview = client.get(f"/messages/{own.id}/redact")
        assert preview.status_code == 403
    assert shared.services.spool.get(own.id).state is SpoolState.HELD  # type: ignore[union-attr]
    with TestClient(shared.app, follow_redirects=False) as client:
        login(client, REVIEWER2)
        token = session_token(client)
        done = client.post(f"/messages/{own.id}/release", data={"reason": "ok", "csrf": token})
    assert done.status_code == 303
    assert shared.services.spool.get(own.id).decided_by == REVIEWER2  # type: ignore[union-attr]


def test_two_reviewers_deciding_at_once_get_one_decision_and_a_clear_conflict(
    tmp_path: Path, db_url: str
) -> None:
    world = build_world(tmp_path, db_url, accounts=(REVIEWER, REVIEWER2, WORKER))
    message = hold(world)
    with (
        TestClient(world.app, follow_redirects=False) as first,
        TestClient(world.app, follow_redirects=False) as second,
    ):
        login(first, REVIEWER)
        login(second, REVIEWER2)
        # Both have the page open with the decision forms.
        first_token = session_token(first)
        second_token = session_token(second)
        assert "Release as sent" in second.get(f"/messages/{message.id}").text
        won = first.post(
            f"/messages/{message.id}/release", data={"reason": "ok", "csrf": first_token}
        )
        lost = second.post(
            f"/messages/{message.id}/return", data={"reason": "fix it", "csrf": second_token}
        )
    assert won.status_code == 303
    assert lost.status_code == 409
    assert f"Already released by {REVIEWER}." in lost.text
    after = world.services.spool.get(message.id)
    assert after is not None and after.state is SpoolState.RELEASED
    assert after.decided_by == REVIEWER
    # Exactly one notice about this message to the sender: released, not
    # returned. (The PostgreSQL database is shared: look at ours only.)
    about = []
    for row in world.services.spool.by_state([SpoolState.DEFERRED]):
        if row.user != "tactful":
            continue
        try:
            raw = world.services.spool.raw(row.id)
        except DecryptionError:
            continue  # another test's notice, under another hold key
        if raw is not None and f"X-Tactful-Notice: {message.id}".encode() in raw:
            about.append((row.recipients, raw))
    assert len(about) == 1
    assert about[0][0] == (WORKER,)
    assert b'Subject: Released and being sent: "Referral for housing"' in about[0][1]


def test_without_linting_the_stored_findings_are_shown_and_nothing_is_masked(
    shared: World,
) -> None:
    """This world has no linter: the page says why its list is the one
    stored at hold time, and the mask preview says why it cannot mask."""
    message = hold(shared)
    with TestClient(shared.app, follow_redirects=False) as client:
        login(client, REVIEWER)
        page = client.get(f"/messages/{message.id}")
        preview = client.get(f"/messages/{message.id}/redact")
    assert page.status_code == 200
    assert (
        "Linting is turned off on this server, so findings cannot be marked. "
        "The list below is what was found when it was held." in page.text
    )
    assert "date of birth" in page.text  # the stored finding
    assert preview.status_code == 200
    assert "Cannot mask this message" in preview.text
    assert (
        "Linting is turned off on this server, so findings cannot be marked. "
        "Release as sent or return it instead." in preview.text
    )
    assert "The list below" not in preview.text
