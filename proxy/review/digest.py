"""The reviewers' digest: a periodic email listing what waits for them.

Each reviewer gets the messages routed to them (see :mod:`proxy.review.routing`),
oldest first, with a link to each. Like every notice it names rules and
senders, never message text, recipients or client names: it is still an
email and may be forwarded or kept for years. Nothing pending, no email.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from proxy.accounts.users import User, UserDirectory, load_users
from proxy.pipeline.notices import Notice
from proxy.pipeline.services import Services
from proxy.review.queue import age_words
from proxy.review.routing import DECIDING_ROLES, assign
from proxy.store.spool_view import SpooledMessage

log = logging.getLogger(__name__)

MAX_LISTED = 50


@dataclass(frozen=True, slots=True)
class DigestEmail:
    reviewer: str
    notice: Notice
    count: int


def _address(user: User) -> str | None:
    return user.addresses[0] if user.addresses else None


def compose_digests(
    held: Sequence[SpooledMessage],
    directory: UserDirectory,
    *,
    supervisors: dict[str, tuple[str, ...]],
    base_url: str,
    now: datetime,
) -> tuple[list[DigestEmail], list[str]]:
    """One digest per reviewer with pending messages, and the names of
    reviewers who have messages but no address to send to."""
    waiting: dict[str, list[SpooledMessage]] = {}
    for message in held:
        for name in assign(message.sender, message.user, supervisors, directory).reviewers:
            waiting.setdefault(name, []).append(message)
    base = base_url.rstrip("/")
    emails: list[DigestEmail] = []
    unreachable: list[str] = []
    for name, messages in sorted(waiting.items()):
        user = directory.get(name)
        if user is None or user.role not in DECIDING_ROLES:
            continue
        to = _address(user)
        if to is None:
            unreachable.append(name)
            continue
        count = len(messages)
        lines = [
            f"{count} held message{'s' if count != 1 else ''} "
            f"{'are' if count != 1 else 'is'} waiting for your review.",
            "Workers are waiting on these; a returned message with a note is better than none.",
            "",
        ]
        for message in messages[:MAX_LISTED]:
            codes = ", ".join(message.summary.rule_codes) or "review"
            urgent = "URGENT " if message.summary.urgent else ""
            lines.append(
                f"- {urgent}waiting {age_words(message.received_at, now)}, from "
                f"{message.sender}, {len(message.recipients)} recipient(s), rules: {codes}"
            )
            lines.append(f"  {base}/messages/{message.id}")
        if count > MAX_LISTED:
            lines.append(f"...and {count - MAX_LISTED} more: {base}/")
        lines += ["", f"The whole queue: {base}/"]
        subject = f"Tactful: {count} held message{'s' if count != 1 else ''} to review"
        emails.append(
            DigestEmail(name, Notice(to, subject, "\n".join(lines), f"digest:{name}"), count)
        )
    return emails, unreachable


async def send_digest(services: Services, now: datetime) -> int:
    """Queue this round's digests through the notice queue; returns how
    many were queued. The caller decides how often (``review.digest_hours``)."""
    settings = services.settings
    held = await asyncio.to_thread(services.spool.list_held)
    if not held:
        return 0
    directory = await asyncio.to_thread(load_users, settings.smtp.users_file)
    emails, unreachable = compose_digests(
        held,
        directory,
        supervisors=settings.review.supervisors,
        base_url=settings.review.base_url,
        now=now,
    )
    for name in unreachable:
        log.warning("reviewer %s has held messages but no email address for the digest", name)
    for email in emails:
        await services.notices.send(email.notice)
    return len(emails)
