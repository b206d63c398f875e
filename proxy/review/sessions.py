"""Logged-in reviewers, kept in the database and ended after idle time.

Why server-side: a reviewer who logs out, or an admin who removes an
account, must end the session at once; a signed cookie alone cannot be
taken back. The cookie holds only a random token; the database holds its
hash (:mod:`proxy.store.cluster`). Why the database rather than memory:
with several nodes behind one address, a reviewer's next request may reach
another node, and a restart must not log every reviewer out.
"""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine

from proxy.accounts.users import Role
from proxy.core.clock import Clock
from proxy.store.cluster import SessionRows

# However active, a reviewer logs in again after this.
MAX_LIFETIME = timedelta(hours=12)
COOKIE_NAME = "tactful_session"


@dataclass(slots=True)
class ReviewSession:
    token: str = field(repr=False)
    user: str
    role: Role
    addresses: tuple[str, ...] = field(repr=False)
    csrf: str = field(repr=False)
    created: datetime
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class Ended:
    """No usable session; ``idle`` says it timed out (worth telling the user)."""

    idle: bool


class SessionStore:
    """The review app's sessions, shared by every node on the database."""

    def __init__(
        self,
        engine: Engine,
        idle: timedelta,
        *,
        lifetime: timedelta = MAX_LIFETIME,
        clock: Clock,
    ) -> None:
        self._rows = SessionRows(engine)
        self._idle = idle
        self._lifetime = lifetime
        self._clock = clock

    async def create(self, user: str, role: Role, addresses: tuple[str, ...]) -> ReviewSession:
        """A fresh token at every login, so a token planted before login
        (session fixation) is never promoted."""
        now = self._clock()
        await asyncio.to_thread(
            self._rows.prune, idle_before=now - self._idle, created_before=now - self._lifetime
        )
        session = ReviewSession(
            token=secrets.token_urlsafe(32),
            user=user,
            role=role,
            addresses=addresses,
            csrf=secrets.token_urlsafe(32),
            created=now,
            last_seen=now,
        )
        await asyncio.to_thread(
            self._rows.add,
            session.token,
            user=user,
            role=role.value,
            addresses=addresses,
            csrf=session.csrf,
            now=now,
        )
        return session

    async def touch(self, token: str | None) -> ReviewSession | Ended:
        """The session for ``token``, marked as active now."""
        if not token or len(token) > 200:
            return Ended(idle=False)
        stored = await asyncio.to_thread(self._rows.get, token)
        if stored is None:
            return Ended(idle=False)
        try:
            role = Role(stored.role)
        except ValueError:  # a role this version does not know: log in again
            await asyncio.to_thread(self._rows.remove, token)
            return Ended(idle=False)
        now = self._clock()
        if now - stored.last_seen > self._idle or now - stored.created > self._lifetime:
            await asyncio.to_thread(self._rows.remove, token)
            return Ended(idle=True)
        if not await asyncio.to_thread(self._rows.seen, token, now):
            return Ended(idle=False)  # logged out meanwhile
        return ReviewSession(
            token=token,
            user=stored.user,
            role=role,
            addresses=stored.addresses,
            csrf=stored.csrf,
            created=stored.created,
            last_seen=now,
        )

    async def end(self, token: str | None) -> None:
        if token:
            await asyncio.to_thread(self._rows.remove, token)

    async def end_user(self, user: str) -> None:
        """Every session of ``user`` (account removed or role changed)."""
        await asyncio.to_thread(self._rows.remove_user, user)
