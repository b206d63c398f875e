"""The message view and decisions with the real lint engine: findings
marked and explained, hostile HTML rendered inert, release with masked
details after a preview, notices to the sender, queue filters, audit.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from proxy.core.consent import Registry
from proxy.lint.engine import LintEngine
from proxy.store.audit import AuditTrail
from proxy.store.spool_model import SpoolState
from tests.support.web_fixtures import (
    ADMIN,
    AUDITOR,
    EXTERNAL,
    REVIEWER,
    REVIEWER2,
    WORKER,
    ThreadLinter,
    World,
    build_world,
    csrf_of,
    hold,
    login,
    session_token,
    web_settings,
)

SSN_MESSAGE = (
    "From: Jane Worker <jane@example.org>\r\n"
    f"To: <{EXTERNAL}>\r\n"
    "Subject: Benefits paperwork\r\n"
    "MIME-Version: 1.0\r\n"
    'Content-Type: text/plain; charset="utf-8"\r\n'
    "\r\n"
    "For the application: the mother's DOB: 03/14/1988 and SSN 123-45-6789.\r\n"
    "Thanks.\r\n"
).encode()

XSS_MESSAGE = (
    "From: Jane Worker <jane@example.org>\r\n"
    f"To: <{EXTERNAL}>\r\n"
    'Subject: <img src=x onerror="alert(7)"> intake\r\n'
    "MIME-Version: 1.0\r\n"
    'Content-Type: multipart/alternative; boundary="b1"\r\n'
    "\r\n"
    "--b1\r\n"
    'Content-Type: text/plain; charset="utf-8"\r\n'
    "\r\n"
    "DOB: 03/14/1988 <script>alert(1)</script>\r\n"
    "--b1\r\n"
    'Content-Type: text/html; charset="utf-8"\r\n'
    "\r\n"
    '<html><head><script>alert(2)</script></head><body onload="alert(3)">'
    '<p>DOB: 03/14/1988</p><img src="http://attacker.example/x.png" onerror="alert(4)">'
    "<p>&lt;script&gt;alert(5)&lt;/script&gt;</p>"
    '<iframe src="javascript:alert(6)"></iframe></body></html>\r\n'
    "--b1--\r\n"
).encode()


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, nlp_service: Any) -> LintEngine:
    settings = web_settings(tmp_path_factory.mktemp("engine"))
    return LintEngine(settings, Registry(), nlp=nlp_service)


@pytest.fixture
def world(tmp_path: Path, engine: LintEngine) -> Iterator[World]:
    built = build_world(tmp_path, f"sqlite:///{tmp_path / 'web.db'}", linter=ThreadLinter(engine))
    yield built
    built.services.engine.dispose()


def notices_to(world: World, address: str) -> list[str]:
    """Queued notices to ``address``, as subject and decoded body text."""
    found = []
    for row in world.services.spool.by_state([SpoolState.DEFERRED]):
        if row.user == "tactful" and row.recipients == (address,):
            raw = world.services.spool.raw(row.id)
            assert raw is not None
            mail = message_from_bytes(raw, policy=default)
            assert isinstance(mail, EmailMessage)
            found.append(f"{mail['Subject']}\n{mail.get_content()}")
    return found


def test_findings_are_marked_and_explained_in_plain_words(world: World, engine: LintEngine) -> None:
    message = hold(world, SSN_MESSAGE, engine=engine)
    with TestClient(world.app, follow_redirects=False) as client:
        login(client, REVIEWER)
        page = client.get(f"/messages/{message.id}")
    assert page.status_code == 200
    text = page.text
    marks = re.findall(r"<mark id=\"text-(\d+)\">.*?</a>(.*?)</mark>", text)
    assert any("123-45-6789" in m[1] for m in marks)
    assert "Social Security number" in text
    assert "date of birth" in text
    # Each mark links to its explanation.
    for number, _ in marks:
        assert f'id="finding-{number}"' in text
    assert "Benefits paperwork" in text
    assert f'{EXTERNAL} <span class="tag">external, email</span>' in text


def test_an_xss_attempt_in_a_held_html_message_is_rendered_inert(
    world: World, engine: LintEngine
) -> None:
    message = hold(world, XSS_MESSAGE, engine=engine)
    with TestClient(world.app, follow_redirects=False) as client:
        login(client, REVIEWER)
        page = client.get(f"/messages/{message.id}")
    assert page.status_code == 200
    body = page.text
    lowered = body.lower()
    assert "<script" not in lowered
    # No element of the page carries an event handler or a remote source.
    assert re.search(r"<[a-z][^>]*\son[a-z]+\s*=", lowered) is None
    for hostile in ("<img", "<iframe", "javascript:", "attacker.example", "<body onload"):
        assert hostile not in lowered
    # The subject's markup is shown as text.
    assert "&lt;img src=x onerror=" in body
    # The literal text a worker typed is still there for the reviewer, escaped.
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "&lt;script&gt;alert(5)&lt;/script&gt;" in body
    assert "shown as plain text" in body
    csp = page.headers["content-security-policy"]
    assert "script-src 'none'" in csp and "frame-ancestors 'none'" in csp


def test_security_headers_and_cookie_flags(world: World) -> None:
    with TestClient(world.app, follow_redirects=False) as client:
        page = client.get("/login")
        response = login(client, REVIEWER)
    for r in (page, response):
        assert r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["cache-control"] == "no-store"
        assert "default-src 'self'" in r.headers["content-security-policy"]
    cookie = response.headers["set-cookie"].lower()
    assert "tactful_session=" in cookie
    assert "httponly" in cookie and "samesite=strict" in cookie
    assert "secure" not in cookie  # plain http test server, cookie_secure: auto


def test_cookies_are_secure_when_configured(tmp_path: Path) -> None:
    world = build_world(tmp_path, f"sqlite:///{tmp_path / 'w.db'}", cookie_secure="true")
    with TestClient(world.app, follow_redirects=False) as client:
        response = login(client, REVIEWER)
    assert "; secure" in response.headers["set-cookie"].lower()


def test_release_with_redactions_shows_a_preview_and_sends_exactly_that(
    world: World, engine: LintEngine
) -> None:
    message = hold(world, SSN_MESSAGE, engine=engine)
    with TestClient(world.app, follow_redirects=False) as client:
        login(client, REVIEWER)
        preview = client.get(f"/messages/{message.id}/redact")
        assert preview.status_code == 200
        assert "***-**-6789" in preview.text
        assert "123-45-6789" not in preview.text
        assert world.services.spool.get(message.id).state is SpoolState.HELD  # type: ignore[union-attr]
        digest = re.search(r'name="digest" value="([0-9a-f]{64})"', preview.text)
        assert digest is not None
        stale = client.post(
            f"/messages/{message.id}/release-redacted",
            data={"reason": "masked is fine", "digest": "0" * 64, "csrf": csrf_of(preview.text)},
        )
        assert stale.status_code == 409
        assert world.services.spool.get(message.id).state is SpoolState.HELD  # type: ignore[union-attr]
        done = client.post(
            f"/messages/{message.id}/release-redacted",
            data={"reason": "masked is fine", "digest": digest.group(1),
                  "csrf": csrf_of(preview.text)},
        )  # fmt: skip
        # POST, 303, GET: reloading the result posts nothing again.
        assert done.status_code == 303, done.text
        assert done.headers["location"] == f"/messages/{message.id}/decided"
        result = client.get(done.headers["location"])
    assert result.status_code == 200
    assert "Released with some details masked by sam@example.org" in result.text
    assert "Benefits paperwork" in result.text
    after = world.services.spool.get(message.id)
    assert after is not None and after.state is SpoolState.RELEASED
    assert after.redacted_on_release
    sent = world.services.spool.raw(message.id)
    assert sent is not None
    assert b"***-**-6789" in sent and b"123-45-6789" not in sent
    [notice] = notices_to(world, WORKER)
    assert "with some details masked (they look like ***-**-8821)" in notice
    assert "123-45-6789" not in notice


def test_return_to_sender_sends_the_reviewers_note(world: World) -> None:
    message = hold(world)
    with TestClient(world.app, follow_redirects=False) as client:
        login(client, REVIEWER)
        token = session_token(client)
        response = client.post(
            f"/messages/{message.id}/return",
            data={"reason": "Please send the date of birth through the portal.", "csrf": token},
        )
        assert response.status_code == 303
        result = client.get(response.headers["location"])
    assert result.status_code == 200
    assert "<h1>Returned</h1>" in result.text
    assert "Referral for housing" in result.text
    after = world.services.spool.get(message.id)
    assert after is not None and after.state is SpoolState.RETURNED and not after.has_content
    [notice] = notices_to(world, WORKER)
    assert "Please send the date of birth through the portal." in notice
    assert notice.startswith('Returned, not sent: "Referral for housing"\n')
    assert 'returned your message "Referral for housing" to 1 recipient.' in notice
    assert message.id in notice


def test_decisions_views_and_logins_are_audited_without_message_text(world: World) -> None:
    released, returned = hold(world), hold(world)
    with TestClient(world.app, follow_redirects=False) as client:
        login(client, REVIEWER, "wrong password")
        login(client, REVIEWER)
        client.get(f"/messages/{released.id}")
        token = session_token(client)
        client.post(f"/messages/{released.id}/release", data={"reason": "DOB ok", "csrf": token})
        client.post(f"/messages/{returned.id}/return", data={"reason": "DOB no", "csrf": token})
        client.post("/logout", data={"csrf": token})
    entries = AuditTrail(world.services.engine).entries()
    seen = [(e.actor, e.action, e.target) for e in entries]
    assert (REVIEWER, "review.login_failed", None) in seen
    assert (REVIEWER, "review.login", None) in seen
    assert (REVIEWER, "message.view", released.id) in seen
    assert (REVIEWER, "message.release", released.id) in seen
    assert (REVIEWER, "message.return", returned.id) in seen
    assert (REVIEWER, "review.logout", None) in seen
    dumped = repr([(e.details, e.target, e.actor) for e in entries])
    for secret in ("DOB", "03/14/1988", "wrong password", EXTERNAL):
        assert secret not in dumped
    assert AuditTrail(world.services.engine).verify().ok


def test_login_failures_are_throttled_and_logged_without_the_password(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    with TestClient(world.app, follow_redirects=False) as client:
        for _ in range(5):
            assert login(client, REVIEWER, "not-the-password-123").status_code == 401
        blocked = login(client, REVIEWER)  # the right password, but too late
        assert blocked.status_code == 429
        assert "paused until" in blocked.text
        # Another account from the same address is not locked out.
        assert login(client, REVIEWER2).status_code == 303
    world.clock.advance(__import__("datetime").timedelta(minutes=16))
    with TestClient(world.app, follow_redirects=False) as client:
        assert login(client, REVIEWER).status_code == 303
    assert "review login failed for sam@example.org" in caplog.text
    assert "not-the-password-123" not in caplog.text


def test_sessions_end_after_idle_time(world: World) -> None:
    from datetime import timedelta

    with TestClient(world.app, follow_redirects=False) as client:
        login(client, REVIEWER)
        world.clock.advance(timedelta(minutes=29))
        assert client.get("/").status_code == 200
        world.clock.advance(timedelta(minutes=29))
        assert client.get("/").status_code == 200  # activity keeps it alive
        world.clock.advance(timedelta(minutes=31))
        expired = client.get("/?q=x")
        assert expired.status_code == 303
        assert expired.headers["location"].startswith("/login?next=")
        assert "idle=1" in expired.headers["location"]
        page = client.get(expired.headers["location"])
        assert "logged out after a while without activity" in page.text


def test_login_page_explains_the_admin_bootstrap_until_an_admin_exists(tmp_path: Path) -> None:
    world = build_world(tmp_path, f"sqlite:///{tmp_path / 'w.db'}", accounts=(REVIEWER,))
    with TestClient(world.app) as client:
        page = client.get("/login")
    assert "tactful user add NAME --role admin" in page.text
    assert "no default" in page.text
    with_admin = build_world(tmp_path / "b", f"sqlite:///{tmp_path / 'b.db'}", accounts=(ADMIN,))
    with TestClient(with_admin.app) as client:
        assert "--role admin" not in client.get("/login").text


def test_login_redirects_only_within_the_app(world: World) -> None:
    with TestClient(world.app, follow_redirects=False) as client:
        page = client.get("/login?next=//evil.example/")
        response = client.post(
            "/login",
            data={"name": REVIEWER, "password": "long-test-password-42",
                  "csrf": csrf_of(page.text), "next": "//evil.example/"},
        )  # fmt: skip
    assert response.status_code == 303
    assert response.headers["location"] == "/"


def test_queue_shows_age_routing_reasons_and_filters(tmp_path: Path) -> None:
    world = build_world(
        tmp_path, f"sqlite:///{tmp_path / 'q.db'}", supervisors={WORKER: [REVIEWER2]}
    )
    mine = hold(world)  # jane's: routed to ria by the mapping
    other = hold(world, sender="bob@example.org")  # not mapped: any reviewer
    with TestClient(world.app, follow_redirects=False) as client:
        login(client, REVIEWER2)
        queue = client.get("/").text
        assert mine.id in queue and other.id in queue
        assert "42 min" in queue
        assert "personal-identifier" in queue
        assert "any reviewer" in queue
        # ria is jane's supervisor, and like every reviewer gets bob's.
        only_mine = client.get("/?mine=1").text
        assert mine.id in only_mine and other.id in only_mine
        search = client.get("/?q=bob@").text
        assert other.id in search and mine.id not in search
        by_rule = client.get("/?rule=no-such-rule").text
        assert mine.id not in by_rule
    with TestClient(world.app, follow_redirects=False) as client:
        login(client, REVIEWER)
        only_mine = client.get("/?mine=1").text
        assert mine.id not in only_mine and other.id in only_mine


def test_decided_messages_show_who_decided(world: World) -> None:
    message = hold(world)
    with TestClient(world.app, follow_redirects=False) as client:
        login(client, ADMIN)
        token = session_token(client)
        client.post(f"/messages/{message.id}/delete", data={"reason": "test", "csrf": token})
        decided = client.get("/?show=decided").text
        again = client.get(f"/messages/{message.id}")
    assert message.id in decided and f"deleted by {ADMIN}" in decided
    assert "Release as sent" not in again.text
    assert "content was deleted" in again.text
    assert notices_to(world, WORKER) and "NOT sent" in notices_to(world, WORKER)[0]


def test_auditor_can_read_the_audit_trail_and_verify_it(world: World) -> None:
    with TestClient(world.app, follow_redirects=False) as client:
        login(client, AUDITOR)
        page = client.get("/audit?verify=1")
    assert page.status_code == 200
    assert "The trail is intact" in page.text
    assert "review.login" in page.text


def test_queue_shows_a_held_text_by_number_as_the_policy_saw_it(tmp_path: Path) -> None:
    """Texts from the SMS API are spooled to "sms:+E164"; the queue shows
    the number and the recipient kind stored when the text was held."""
    import dataclasses
    import uuid
    from datetime import timedelta

    from proxy.core.submission import Submission
    from proxy.store.spool_summary import RecipientSummary
    from tests.support.web_fixtures import stored_summary

    world = build_world(tmp_path, f"sqlite:///{tmp_path / 'q.db'}")
    summary = dataclasses.replace(
        stored_summary(),
        recipients=(RecipientSummary("+13125550142", "client", "sms", ("C-1001",), "hold"),),
    )
    text = Submission(
        id=uuid.uuid4().hex,
        sender=WORKER,
        recipients=("sms:+13125550142",),
        user=WORKER,
        raw=b"From: jane@example.org\r\nSubject: text\r\n\r\nSee you at 3.\r\n",
        received_at=world.clock() - timedelta(minutes=5),
    )
    world.services.spool.hold(text, summary, now=world.clock())
    with TestClient(world.app, follow_redirects=False) as client:
        login(client, REVIEWER)
        queue = client.get("/").text
    assert "+13125550142 <span class=\"tag\">client, text message</span>" in queue
    assert "sms:+13125550142" not in queue


def test_a_held_text_is_judged_again_as_a_text(tmp_path: Path, nlp_service: Any) -> None:
    """The review app re-lints a held message to mark its findings; a text
    from the Messages API is judged with the SMS policy (its recipient is a
    client's phone), not as mail to an odd address."""
    import uuid
    from datetime import timedelta

    from proxy.core.consent import Channel
    from proxy.core.submission import Submission
    from proxy.sms.provider import OutgoingText
    from proxy.sms.textmail import to_message
    from proxy.store.consent_csv import read_consent_csv
    from tests.support.proxy_fixtures import CONSENT_CSV
    from tests.support.web_fixtures import stored_summary

    settings = web_settings(tmp_path / "engine")
    registry = Registry(read_consent_csv(CONSENT_CSV))
    linter = ThreadLinter(LintEngine(settings, registry, nlp=nlp_service))
    world = build_world(tmp_path, f"sqlite:///{tmp_path / 't.db'}", linter=linter)
    body = OutgoingText(to="+13125550142", body="Maria, your DOB 03/14/1988 is on the form.",
                        from_="+13125550100")  # fmt: skip
    message_id = uuid.uuid4().hex
    at = world.clock() - timedelta(minutes=5)
    text = Submission(
        id=message_id,
        sender=WORKER,
        recipients=("sms:+13125550142",),
        user=WORKER,
        raw=to_message(sender=WORKER, text=body, message_id=message_id, at=at),
        received_at=at,
        channel=Channel.SMS,
    )
    world.services.spool.hold(text, stored_summary(), now=world.clock())
    with TestClient(world.app, follow_redirects=False) as client:
        login(client, REVIEWER)
        page = client.get(f"/messages/{message_id}").text
    # What Tactful found, in the SMS policy's words for a text to a phone.
    assert "date of birth" in page
    assert "Text messages can be read by anyone who picks up the phone." in page
