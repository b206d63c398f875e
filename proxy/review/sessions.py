"""Logged-in reviewers, kept in memory and ended after idle time.

Why server-side: a reviewer who logs out, or an admin who removes an
account, must end the session at once; a signed cookie alone cannot be
taken back. The cookie holds only a random token. Sessions do not survive
a restart of ``tactful serve``; reviewers simply log in again.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from proxy.accounts.users import Role
from proxy.core.clock import Clock

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
    def __init__(
        self,
        idle: timedelta,
        *,
        lifetime: timedelta = MAX_LIFETIME,
        clock: Clock,
    ) -> None:
        self._idle = idle
        self._lifetime = lifetime
        self._clock = clock
        self._sessions: dict[str, ReviewSession] = {}

    def create(self, user: str, role: Role, addresses: tuple[str, ...]) -> ReviewSession:
        """A fresh token at every login, so a token planted before login
        (session fixation) is never promoted."""
        now = self._clock()
        self._prune(now)
        session = ReviewSession(
            token=secrets.token_urlsafe(32),
            user=user,
            role=role,
            addresses=addresses,
            csrf=secrets.token_urlsafe(32),
            created=now,
            last_seen=now,
        )
        self._sessions[session.token] = session
        return session

    def touch(self, token: str | None) -> ReviewSession | Ended:
        """The session for ``token``, marked as active now."""
        if not token:
            return Ended(idle=False)
        session = self._sessions.get(token)
        if session is None:
            return Ended(idle=False)
        now = self._clock()
        if self._expired(session, now):
            del self._sessions[token]
            return Ended(idle=True)
        session.last_seen = now
        return session

    def end(self, token: str | None) -> None:
        if token:
            self._sessions.pop(token, None)

    def end_user(self, user: str) -> None:
        """Every session of ``user`` (account removed or role changed)."""
        for token in [t for t, s in self._sessions.items() if s.user == user]:
            del self._sessions[token]

    def _expired(self, session: ReviewSession, now: datetime) -> bool:
        return now - session.last_seen > self._idle or now - session.created > self._lifetime

    def _prune(self, now: datetime) -> None:
        stale = [token for token, s in self._sessions.items() if self._expired(s, now)]
        for token in stale:
            del self._sessions[token]
