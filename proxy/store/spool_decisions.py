"""Ending a hold: a reviewer releases or rejects it, the sender cancels it,
an admin deletes it, or nobody decides in time and it expires.

Every decision is a compare-and-set on ``version`` from the ``held`` state,
so of two reviewers acting at once exactly one wins and the other gets a
typed :class:`AlreadyDecided` rather than an exception. The decision and
its audit entry commit in the same transaction. Content is purged by every
decision except a release, whose content the scheduler still has to send.

These methods block on the database; async callers wrap them in
``asyncio.to_thread``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from proxy.core.clock import Clock
from proxy.store.audit import record as audit
from proxy.store.crypto import MessageCipher
from proxy.store.db import rowcount, utc
from proxy.store.spool_model import SpoolRow, SpoolState
from proxy.store.spool_view import REDACTED_ON_RELEASE, SpooledMessage, view

CANCEL_REASON = "withdrawn by the sender"


@dataclass(frozen=True, slots=True)
class Decided:
    message: SpooledMessage


@dataclass(frozen=True, slots=True)
class AlreadyDecided:
    """Someone else got there first (or the message is no longer held)."""

    id: str
    state: SpoolState
    by: str | None


@dataclass(frozen=True, slots=True)
class NotFound:
    id: str


DecisionResult = Decided | AlreadyDecided | NotFound

# Audit action names of decisions on held mail, by the state they lead to.
_DECISION_ACTIONS = {
    SpoolState.RELEASED: "message.release",
    SpoolState.RETURNED: "message.return",
    SpoolState.DELETED: "message.delete",
    SpoolState.CANCELLED: "message.cancel",
}


class SpoolDecisions:
    """Decisions on held messages, by people and by the clock."""

    def __init__(
        self, sessions: sessionmaker[Session], cipher: MessageCipher, *, clock: Clock
    ) -> None:
        self._sessions = sessions
        self._cipher = cipher
        self.clock = clock

    def release(
        self,
        message_id: str,
        by: str,
        reason: str,
        now: datetime | None = None,
        *,
        replacement: bytes | None = None,
    ) -> DecisionResult:
        """A reviewer lets a held message go; the scheduler sends it.

        ``replacement`` (the message with some details masked) replaces the
        stored content in the same compare-and-set, so what is sent is
        exactly what the reviewer approved; the summary then carries
        ``redacted_on_release`` for the sender's notice.
        """
        moment = utc(now or self.clock())
        extra: dict[str, Any] = {"next_attempt_at": moment}
        if replacement is not None:
            with self._sessions() as session:
                stored = session.scalar(
                    select(SpoolRow.summary).where(SpoolRow.id == message_id)
                )
            if stored is None:
                return NotFound(message_id)
            # The summary is written once at hold time and never changed
            # elsewhere, so reading it outside the compare-and-set is safe.
            extra |= {
                "content": self._cipher.encrypt(message_id, replacement),
                "content_size": len(replacement),
                "summary": {**stored, REDACTED_ON_RELEASE: True},
            }
        return self._decide(
            message_id,
            SpoolState.RELEASED,
            by,
            reason,
            moment,
            extra=extra,
        )

    def cancel(
        self, message_id: str, by: str, now: datetime | None = None
    ) -> DecisionResult:
        """The sender withdraws a held message (e.g. to send a fixed one);
        content purged. Checking that ``by`` is the sender is the caller's
        job: the store does not know who is asking."""
        moment = utc(now or self.clock())
        return self._decide(
            message_id, SpoolState.CANCELLED, by, CANCEL_REASON, moment, extra={"content": None}
        )

    def reject(
        self, message_id: str, by: str, reason: str, now: datetime | None = None
    ) -> DecisionResult:
        """A reviewer returns a held message to its sender; content purged."""
        moment = utc(now or self.clock())
        return self._decide(
            message_id, SpoolState.RETURNED, by, reason, moment, extra={"content": None}
        )

    def delete(
        self, message_id: str, by: str, reason: str, now: datetime | None = None
    ) -> DecisionResult:
        """An admin removes a held message; content purged."""
        moment = utc(now or self.clock())
        return self._decide(
            message_id, SpoolState.DELETED, by, reason, moment, extra={"content": None}
        )

    def _decide(
        self,
        message_id: str,
        state: SpoolState,
        by: str,
        reason: str,
        moment: datetime,
        extra: Mapping[str, Any],
    ) -> DecisionResult:
        with self._sessions.begin() as session:
            row = session.get(SpoolRow, message_id)
            if row is None:
                return NotFound(message_id)
            if row.state != SpoolState.HELD.value:
                return AlreadyDecided(message_id, SpoolState(row.state), row.decided_by)
            seen = row.version
            result = session.execute(
                update(SpoolRow)
                .where(
                    SpoolRow.id == message_id,
                    SpoolRow.version == seen,
                    SpoolRow.state == SpoolState.HELD.value,
                )
                .values(
                    state=state.value,
                    decided_by=by,
                    decided_at=moment,
                    decision_reason=reason,
                    updated_at=moment,
                    version=seen + 1,
                    **extra,
                )
                .execution_options(synchronize_session=False)
            )
            if rowcount(result) != 1:
                # Nothing was written; re-read what the winner decided. (A
                # rollback here would close the begin() block's transaction.)
                current = session.get(SpoolRow, message_id, populate_existing=True)
                if current is None:
                    return NotFound(message_id)
                return AlreadyDecided(message_id, SpoolState(current.state), current.decided_by)
            # Same transaction: the decision and its audit entry commit together.
            # The reason is free text that may name the client: only its presence.
            details: dict[str, str | int | bool | None] = {"reason_given": bool(reason.strip())}
            if state is SpoolState.RELEASED and "content" in extra:
                details["redacted"] = True
            audit(
                session,
                actor=by,
                action=_DECISION_ACTIONS[state],
                target=message_id,
                details=details,
                at=moment,
            )
            session.refresh(row)
            return Decided(view(row, self._cipher))

    def expire(self, now: datetime) -> list[SpooledMessage]:
        """Held messages nobody decided on in time: mark expired and purge
        their content. Deferred and released mail is never expired -- it is
        owed to its recipients and is retried until sent.

        Returns the rows this call expired (each row compare-and-set on its
        version), so with several nodes exactly one of them sends each
        expiry notice."""
        moment = utc(now)
        expired: list[str] = []
        with self._sessions.begin() as session:
            candidates = session.execute(
                select(SpoolRow.id, SpoolRow.version).where(
                    SpoolRow.state == SpoolState.HELD.value, SpoolRow.expires_at <= moment
                )
            ).all()
            for message_id, seen in candidates:
                result = session.execute(
                    update(SpoolRow)
                    .where(
                        SpoolRow.id == message_id,
                        SpoolRow.version == seen,
                        SpoolRow.state == SpoolState.HELD.value,
                    )
                    .values(
                        state=SpoolState.EXPIRED.value,
                        content=None,
                        decided_by="expiry",
                        decided_at=moment,
                        updated_at=moment,
                        version=seen + 1,
                    )
                    .execution_options(synchronize_session=False)
                )
                if rowcount(result) == 1:
                    expired.append(message_id)
            # After every row update: the chain head is always locked last.
            for message_id in expired:
                audit(session, actor="expiry", action="message.expire", target=message_id,
                      at=moment)
        if not expired:
            return []
        with self._sessions() as session:
            rows = session.scalars(
                select(SpoolRow).where(SpoolRow.id.in_(expired)).order_by(SpoolRow.id)
            )
            return [view(row, self._cipher) for row in rows]
