"""Sending spooled mail: finding what is due, claiming it, recording the outcome.

Sending is claimed with a lease by compare-and-set on ``version``: several
workers or nodes may look at the same due row, exactly one gets it, and a
worker that dies mid-send only delays the message until the lease runs out.
The outcome (sent, try again later, refused for good) is recorded against
that lease, and content is purged as soon as nothing more will be sent.

These methods block on the database; async callers wrap them in
``asyncio.to_thread``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from proxy.store.crypto import MessageCipher
from proxy.store.db import rowcount, utc
from proxy.store.spool_model import DELIVERABLE, SpoolRow, SpoolState
from proxy.store.spool_summary import error_summary
from proxy.store.spool_view import SpooledMessage, view

DEFAULT_LEASE = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Lease:
    """The right to send one message until ``until``; proof for marking it."""

    message: SpooledMessage
    owner: str
    until: datetime
    version: int


class SpoolDelivery:
    """The scheduler's side of the spool: due rows, leases, outcomes."""

    def __init__(
        self, sessions: sessionmaker[Session], cipher: MessageCipher, *, lease: timedelta
    ) -> None:
        self._sessions = sessions
        self._cipher = cipher
        self._lease = lease

    def due_for_delivery(self, now: datetime, limit: int = 100) -> list[SpooledMessage]:
        """Deferred messages whose time has come and released holds, with no
        live lease, oldest first."""
        moment = utc(now)
        query = (
            select(SpoolRow)
            .where(
                SpoolRow.state.in_([s.value for s in DELIVERABLE]),
                SpoolRow.next_attempt_at <= moment,
                or_(SpoolRow.lease_until.is_(None), SpoolRow.lease_until <= moment),
            )
            .order_by(SpoolRow.next_attempt_at, SpoolRow.id)
            .limit(limit)
        )
        with self._sessions() as session:
            return [view(row, self._cipher) for row in session.scalars(query)]

    def claim_for_delivery(self, message_id: str, now: datetime, owner: str) -> Lease | None:
        """Take the right to send ``message_id`` for the lease period.

        None when it is not due, already sent or decided, or leased by
        someone else -- including when another claimer won the race.
        """
        moment = utc(now)
        until = moment + self._lease
        with self._sessions.begin() as session:
            seen = session.scalar(select(SpoolRow.version).where(SpoolRow.id == message_id))
            if seen is None:
                return None
            result = session.execute(
                update(SpoolRow)
                .where(
                    SpoolRow.id == message_id,
                    SpoolRow.version == seen,
                    SpoolRow.state.in_([s.value for s in DELIVERABLE]),
                    SpoolRow.next_attempt_at <= moment,
                    or_(SpoolRow.lease_until.is_(None), SpoolRow.lease_until <= moment),
                )
                .values(
                    lease_owner=owner,
                    lease_until=until,
                    attempts=SpoolRow.attempts + 1,
                    updated_at=moment,
                    version=seen + 1,
                )
                .execution_options(synchronize_session=False)
            )
            if rowcount(result) != 1:
                return None
            row = session.get(SpoolRow, message_id, populate_existing=True)
            assert row is not None  # we just updated it inside this transaction
            return Lease(view(row, self._cipher), owner, until, seen + 1)

    def mark_sent(self, lease: Lease, now: datetime, note: str | None = None) -> bool:
        """The upstream accepted the message: record it and purge the content.

        Does not require the lease to be current: a message that was sent is
        sent, even if the lease ran out meanwhile. False if it was already
        marked (by a later claimer who also sent it).
        """
        return self._finish(
            lease.message.id,
            SpoolRow.state.in_([s.value for s in DELIVERABLE]),
            now,
            state=SpoolState.SENT,
            last_error=note,
        )

    def mark_failed(
        self, lease: Lease, code: int, enhanced: str, retry_at: datetime, now: datetime
    ) -> bool:
        """A temporary failure: try again from ``retry_at``. False if the
        lease was lost (someone else owns the message now)."""
        moment = utc(now)
        with self._sessions.begin() as session:
            result = session.execute(
                update(SpoolRow)
                .where(_held_by(lease))
                .values(
                    last_error=error_summary(code, enhanced, permanent=False),
                    next_attempt_at=utc(retry_at),
                    lease_owner=None,
                    lease_until=None,
                    updated_at=moment,
                    version=SpoolRow.version + 1,
                )
                .execution_options(synchronize_session=False)
            )
            return rowcount(result) == 1

    def mark_refused(self, lease: Lease, code: int, enhanced: str, now: datetime) -> bool:
        """A permanent refusal by the upstream: the message goes back to the
        sender (state ``returned``) and its content is purged."""
        return self._finish(
            lease.message.id,
            _held_by(lease),
            now,
            state=SpoolState.RETURNED,
            last_error=error_summary(code, enhanced, permanent=True),
            decided_by="upstream",
        )

    def _finish(
        self,
        message_id: str,
        condition: Any,
        now: datetime,
        *,
        state: SpoolState,
        last_error: str | None,
        decided_by: str | None = None,
    ) -> bool:
        moment = utc(now)
        values: dict[str, Any] = {
            "state": state.value,
            "content": None,
            "last_error": last_error,
            "next_attempt_at": None,
            "lease_owner": None,
            "lease_until": None,
            "updated_at": moment,
            "version": SpoolRow.version + 1,
        }
        if decided_by is not None:
            values |= {"decided_by": decided_by, "decided_at": moment}
        with self._sessions.begin() as session:
            result = session.execute(
                update(SpoolRow)
                .where(SpoolRow.id == message_id, condition)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            return rowcount(result) == 1


def _held_by(lease: Lease) -> Any:
    """The row is still ours: nobody changed it since we claimed it."""
    return and_(
        SpoolRow.id == lease.message.id,
        SpoolRow.version == lease.version,
        SpoolRow.lease_owner == lease.owner,
        SpoolRow.state.in_([s.value for s in DELIVERABLE]),
    )
