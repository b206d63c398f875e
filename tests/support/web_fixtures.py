"""Shared parts of the review web app tests: a Services around a real
database, real user accounts, held messages, and a logged-in client.

Import as ``from web_fixtures import ...``.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email import policy as email_policy
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette

from proxy.accounts.users import Role, UserDirectory, save_users
from proxy.app.server import build_services
from proxy.core.clock import ManualClock
from proxy.core.config import Settings, settings_from_mapping
from proxy.core.consent import Channel
from proxy.core.submission import Submission
from proxy.lint.engine import LintEngine, LintResult
from proxy.pipeline.analysis_pool import AnalysisFailure
from proxy.pipeline.notices import found_values, title_of
from proxy.pipeline.services import Services
from proxy.review.app import build_review_app
from proxy.review.links import CancelLinks
from proxy.store.spool_summary import FindingSummary, HitSummary, VerdictSummary, summarize
from proxy.store.spool_view import SpooledMessage
from tests.support.accounts import hashed_once
from tests.support.proxy_fixtures import ALL_DAY

# When the review app's world starts: a Friday evening, on purpose (any day works).
OPENED_AT = datetime(2026, 12, 4, 23, 30, tzinfo=UTC)

WORKER = "jane@example.org"
REVIEWER = "sam@example.org"
REVIEWER2 = "ria@example.org"
ADMIN = "ada@example.org"
AUDITOR = "otto@example.org"
PASSWORD = "long-test-password-42"
EXTERNAL = "intake@partner.example.net"
LINK_KEY = b"k" * 32

ROLES = {WORKER: Role.WORKER, REVIEWER: Role.REVIEWER, REVIEWER2: Role.REVIEWER,
         ADMIN: Role.ADMIN, AUDITOR: Role.AUDITOR}  # fmt: skip

DOB_MESSAGE = (
    "From: Jane Worker <jane@example.org>\r\n"
    f"To: Intake Team <{EXTERNAL}>\r\n"
    "Subject: Referral for housing\r\n"
    "Message-ID: <web-test@example.org>\r\n"
    "MIME-Version: 1.0\r\n"
    'Content-Type: text/plain; charset="utf-8"\r\n'
    "\r\n"
    "Hello,\r\n\r\n"
    "I am referring a family for housing support. The mother's DOB: 03/14/1988.\r\n"
    "Please let me know what else you need.\r\n"
).encode()


class ThreadLinter:
    """The real lint engine in a thread (the pool does the same in processes)."""

    def __init__(self, engine: LintEngine) -> None:
        self.engine = engine

    async def lint(self, raw: bytes, **kwargs: Any) -> LintResult | AnalysisFailure:
        return await asyncio.to_thread(self.engine.lint, raw, **kwargs)


def web_settings(tmp_path: Path, upstream: str | None = None, **review: Any) -> Settings:
    return settings_from_mapping(
        {
            "agency": {"working_hours": ALL_DAY, "holidays": []},
            "smtp": {"users_file": str(tmp_path / "users.json")},
            "upstream": {"target": upstream or f"maildir:{tmp_path / 'outbox'}",
                         "starttls": "off"},
            "dkim": {"enabled": False},
            "hold": {"key_file": str(tmp_path / "hold.key"), "key_env": "TACTFUL_TEST_NO_KEY"},
            "review": {"secret_key_file": str(tmp_path / "review.key"),
                       "base_url": "http://testserver", **review},
        }
    )  # fmt: skip


def save_accounts(path: Path, names: Sequence[str] = tuple(ROLES)) -> None:
    users = UserDirectory()
    for name in names:
        users = users.with_user(hashed_once(name, ROLES[name], PASSWORD))
    save_users(path, users)


@dataclass
class World:
    services: Services
    app: Starlette
    clock: ManualClock  # the services' clock: sessions, ages, links, spool
    links: CancelLinks
    tmp: Path
    held: list[str] = field(default_factory=list)


def build_world(
    tmp_path: Path,
    db_url: str,
    *,
    upstream: str | None = None,
    linter: Any = None,
    accounts: Sequence[str] = tuple(ROLES),
    **review: Any,
) -> World:
    settings = web_settings(tmp_path, upstream, **review)
    save_accounts(Path(settings.smtp.users_file), accounts)
    clock = ManualClock(OPENED_AT)
    services = build_services(settings, db_url, clock=clock)
    services.linter = linter
    links = CancelLinks(LINK_KEY, "http://testserver", timedelta(days=14), clock=clock)
    app = build_review_app(services, links=links)
    return World(services, app, clock, links, tmp_path)


def stored_summary() -> VerdictSummary:
    return VerdictSummary(
        verdict="hold",
        enforced="hold",
        mode="enforce",
        hits=(
            HitSummary(
                rule="personal-identifier",
                action="hold",
                message="A date of birth is going to someone outside the agency.",
                recipient=EXTERNAL,
            ),
        ),
        findings=(FindingSummary(entity="DATE_OF_BIRTH", location="body"),),
    )


def hold(
    world: World,
    raw: bytes = DOB_MESSAGE,
    *,
    sender: str = WORKER,
    user: str | None = None,
    recipients: tuple[str, ...] = (EXTERNAL,),
    engine: LintEngine | None = None,
) -> SpooledMessage:
    """A held message in the spool, judged by ``engine`` when given."""
    found: list[str] = []
    if engine is not None:
        verdict = engine.lint(raw, sender=sender, recipients=recipients, at=world.clock()).verdict
        summary = summarize(verdict)
        found = found_values(verdict)
    else:
        summary = stored_summary()
    # The title the pipeline records, so notices name the message as in production.
    subject = str(message_from_bytes(raw, policy=email_policy.default).get("Subject", ""))
    title = title_of(subject=subject, raw=raw, channel=Channel.EMAIL, hide=found)
    summary = replace(summary, title=title)
    submission = Submission(
        id=uuid.uuid4().hex,
        sender=sender,
        recipients=recipients,
        user=user or sender,
        raw=raw,
        received_at=world.clock() - timedelta(minutes=42),
    )
    message = world.services.spool.hold(submission, summary, now=world.clock())
    world.held.append(message.id)
    return message


_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = _CSRF.search(html)
    assert found is not None, "no CSRF token in the page"
    return found.group(1)


def login(client: httpx.Client | Any, name: str, password: str = PASSWORD) -> Any:
    page = client.get("/login")
    assert page.status_code == 200
    return client.post(
        "/login",
        data={"name": name, "password": password, "csrf": csrf_of(page.text), "next": "/"},
        follow_redirects=False,
    )


def session_token(client: Any) -> str:
    """The CSRF token of the logged-in session, read from the queue page."""
    page = client.get("/")
    assert page.status_code == 200, page.status_code
    return csrf_of(page.text)
