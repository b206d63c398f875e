"""The sender's signed cancel link: valid, tampered with, expired, and
opened by a link scanner (GET must not cancel)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from proxy.core.clock import ManualClock
from proxy.review.links import CancelLinks, CancelTarget, LinkProblem, links_from_settings
from proxy.store.audit import AuditTrail
from proxy.store.spool_model import SpoolState
from tests.support.web_fixtures import LINK_KEY, WORKER, World, build_world, csrf_of, hold


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> World:
    """On SQLite and on a throwaway PostgreSQL schema (``db_url`` in conftest)."""
    return build_world(tmp_path, db_url)


def path_of(url: str | None) -> str:
    assert url is not None and url.startswith("http://testserver/cancel/")
    return url.removeprefix("http://testserver")


def test_a_valid_link_shows_a_confirmation_and_the_post_cancels(world: World) -> None:
    message = hold(world)
    link = path_of(world.links.cancel_url(message.id))
    with TestClient(world.app, follow_redirects=False) as client:
        page = client.get(link)
        assert page.status_code == 200
        assert "Cancel this message" in page.text
        assert "03/14/1988" not in page.text  # no content for whoever holds the link
        # Only the subject, which the email holding the link names too.
        assert "<dd>Referral for housing</dd>" in page.text
        # Opening the link (as a mail scanner would) changes nothing.
        assert world.services.spool.get(message.id).state is SpoolState.HELD  # type: ignore[union-attr]
        done = client.post(link, data={"csrf": csrf_of(page.text)})
        assert done.status_code == 200
        assert "will not be sent" in done.text
        again = client.get(link)
        assert "cancelled by the sender" in again.text
        late = client.post(link, data={"csrf": csrf_of(page.text)})
        assert late.status_code == 409
    after = world.services.spool.get(message.id)
    assert after is not None and after.state is SpoolState.CANCELLED
    assert not after.has_content and after.decided_by == WORKER
    actions = [(e.action, e.target) for e in AuditTrail(world.services.engine).entries()]
    assert ("message.cancel", message.id) in actions


def test_a_tampered_link_is_refused(world: World) -> None:
    message, other = hold(world), hold(world)
    token = world.links.token(message.id)
    forged_payload = world.links.token(other.id).split(".")[0]
    tampered = [
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"),  # signature changed
        ".".join([forged_payload, *token.split(".")[1:]]),  # another id, old signature
        CancelLinks(b"z" * 32, "http://testserver", timedelta(days=14), clock=world.clock).token(
            message.id
        ),
    ]
    with TestClient(world.app, follow_redirects=False) as client:
        form_page = client.get(f"/cancel/{token}")
        for bad in tampered:
            page = client.get(f"/cancel/{bad}")
            assert page.status_code == 400
            assert "not valid" in page.text
            posted = client.post(f"/cancel/{bad}", data={"csrf": csrf_of(form_page.text)})
            assert posted.status_code == 400
    for held in (message, other):
        assert world.services.spool.get(held.id).state is SpoolState.HELD  # type: ignore[union-attr]


def test_an_expired_link_is_refused(world: World) -> None:
    message = hold(world)
    link = path_of(world.links.cancel_url(message.id))
    with TestClient(world.app, follow_redirects=False) as client:
        form_page = client.get(link)
        world.clock.advance(timedelta(days=15))
        page = client.get(link)
        assert page.status_code == 410
        assert "expired" in page.text
        posted = client.post(link, data={"csrf": csrf_of(form_page.text)})
        assert posted.status_code == 410
    assert world.services.spool.get(message.id).state is SpoolState.HELD  # type: ignore[union-attr]


def test_the_cancel_post_needs_the_form_token(world: World) -> None:
    message = hold(world)
    link = path_of(world.links.cancel_url(message.id))
    with TestClient(world.app, follow_redirects=False) as client:
        client.get(link)
        refused = client.post(link, data={"csrf": "y" * 43})
    assert refused.status_code == 403
    assert world.services.spool.get(message.id).state is SpoolState.HELD  # type: ignore[union-attr]


def test_links_check_signature_and_age() -> None:
    clock = ManualClock(datetime(2026, 12, 4, 23, 0, tzinfo=UTC))
    links = CancelLinks(LINK_KEY, "https://review.example.org/", timedelta(days=2),
                        clock=clock)  # fmt: skip
    url = links.cancel_url("abc123")
    assert url is not None and url.startswith("https://review.example.org/cancel/")
    token = url.rsplit("/", 1)[1]
    assert links.check(token) == CancelTarget("abc123")
    clock.advance(timedelta(days=2, seconds=5))
    assert links.check(token) is LinkProblem.EXPIRED
    assert links.check("garbage") is LinkProblem.INVALID


def test_links_from_settings_keep_their_key_across_restarts(tmp_path: Path) -> None:
    from tests.support.web_fixtures import web_settings

    settings = web_settings(tmp_path)
    first_clock = ManualClock(datetime(2026, 12, 4, 23, 0, tzinfo=UTC))
    first = links_from_settings(settings, first_clock)
    token = first.token("m1")
    key_file = Path(settings.review.secret_key_file)
    assert key_file.stat().st_mode & 0o077 == 0
    assert links_from_settings(settings, first_clock).check(token) == CancelTarget("m1")
