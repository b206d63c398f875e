"""What several ``tactful serve`` nodes on one database must agree on
beyond the spool: who is logged in to the review app, and which node runs
a periodic job this time.

Both are plain rows changed by compare-and-set, so they work alike on
SQLite (one node) and PostgreSQL (several), with no lock held between
statements. Blocking: call from a worker thread.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, or_, select, update
from sqlalchemy.exc import IntegrityError

from proxy.store.cluster_model import ClusterJobRow, ReviewSessionRow
from proxy.store.db import aware, rowcount, session_factory, utc


def token_hash(token: str) -> str:
    """What is stored for a session token: its SHA-256, never the token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredSession:
    user: str
    role: str
    addresses: tuple[str, ...]
    csrf: str
    created: datetime
    last_seen: datetime


class SessionRows:
    """Review sessions in the database, keyed by the hash of their token."""

    def __init__(self, engine: Engine) -> None:
        self._sessions = session_factory(engine)

    def add(
        self,
        token: str,
        *,
        user: str,
        role: str,
        addresses: tuple[str, ...],
        csrf: str,
        now: datetime,
    ) -> None:
        with self._sessions.begin() as session:
            session.add(
                ReviewSessionRow(
                    token_hash=token_hash(token),
                    user_name=user,
                    role=role,
                    addresses=json.dumps(list(addresses)),
                    csrf=csrf,
                    created=utc(now),
                    last_seen=utc(now),
                )
            )

    def get(self, token: str) -> StoredSession | None:
        with self._sessions() as session:
            row = session.get(ReviewSessionRow, token_hash(token))
            if row is None:
                return None
            return StoredSession(
                user=row.user_name,
                role=row.role,
                addresses=tuple(json.loads(row.addresses)),
                csrf=row.csrf,
                created=aware(row.created),
                last_seen=aware(row.last_seen),
            )

    def seen(self, token: str, now: datetime) -> bool:
        """Mark the session active now; False if it is gone (logged out
        meanwhile, on this node or another)."""
        with self._sessions.begin() as session:
            result = session.execute(
                update(ReviewSessionRow)
                .where(ReviewSessionRow.token_hash == token_hash(token))
                .values(last_seen=utc(now))
                .execution_options(synchronize_session=False)
            )
            return rowcount(result) == 1

    def remove(self, token: str) -> None:
        with self._sessions.begin() as session:
            session.execute(
                delete(ReviewSessionRow).where(ReviewSessionRow.token_hash == token_hash(token))
            )

    def remove_user(self, user: str) -> int:
        with self._sessions.begin() as session:
            result = session.execute(
                delete(ReviewSessionRow).where(ReviewSessionRow.user_name == user)
            )
            return rowcount(result)

    def prune(self, *, idle_before: datetime, created_before: datetime) -> int:
        """Remove sessions idle or old past their limits; returns how many."""
        with self._sessions.begin() as session:
            result = session.execute(
                delete(ReviewSessionRow).where(
                    or_(
                        ReviewSessionRow.last_seen < utc(idle_before),
                        ReviewSessionRow.created < utc(created_before),
                    )
                )
            )
            return rowcount(result)

    def count(self) -> int:
        with self._sessions() as session:
            return len(session.execute(select(ReviewSessionRow.token_hash)).all())


class ClusterJobs:
    """Which node runs a periodic job this period.

    :meth:`claim` moves the job's ``last_run`` to ``now`` only if the last
    run is at least ``every`` ago, in one compare-and-set; exactly one node
    wins each period. A node that wins and then dies leaves that period's
    run undone (the job is re-done at the next period), which suits jobs
    like the reviewers' digest that are a reminder, not a delivery.
    """

    def __init__(self, engine: Engine) -> None:
        self._sessions = session_factory(engine)

    def claim(self, name: str, now: datetime, every: timedelta, holder: str) -> bool:
        moment = utc(now)
        with self._sessions.begin() as session:
            result = session.execute(
                update(ClusterJobRow)
                .where(ClusterJobRow.name == name, ClusterJobRow.last_run <= utc(now - every))
                .values(last_run=moment, holder=holder[:200])
                .execution_options(synchronize_session=False)
            )
            if rowcount(result) == 1:
                return True
            if session.get(ClusterJobRow, name) is not None:
                return False
        # Never run anywhere: the first node to insert the row runs it; the
        # job's first period starts at the first start-up, not at once.
        try:
            with self._sessions.begin() as session:
                session.add(ClusterJobRow(name=name, last_run=moment, holder=holder[:200]))
        except IntegrityError:
            return False
        return False

    def last_run(self, name: str) -> tuple[datetime, str] | None:
        with self._sessions() as session:
            row = session.get(ClusterJobRow, name)
            return None if row is None else (aware(row.last_run), row.holder)
