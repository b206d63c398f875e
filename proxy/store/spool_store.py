"""Durable store for held and deferred messages: storing them and reading them.

The SMTP front door answers 250 for a held or deferred message only after
:meth:`SpoolStore.hold` / :meth:`SpoolStore.defer` return, and they return
only after the row is committed (SQLite WAL + synchronous=FULL, PostgreSQL
synchronous commit). Both are idempotent on the submission id, so a retry
after a crash between commit and reply never stores the message twice.

:class:`SpoolStore` is also the one object the rest of Tactful holds for the
spool: sending (:mod:`proxy.store.spool_delivery`) and decisions on held
mail (:mod:`proxy.store.spool_decisions`) live in their own modules, and the
store hands calls on to them so callers need only one handle.

These methods block on the database; async callers wrap them in
``asyncio.to_thread``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError

from proxy.core.clock import Clock
from proxy.core.submission import Submission
from proxy.store.crypto import MessageCipher
from proxy.store.db import session_factory, utc
from proxy.store.spool_decisions import DecisionResult, SpoolDecisions
from proxy.store.spool_delivery import DEFAULT_LEASE, Lease, SpoolDelivery
from proxy.store.spool_model import SpoolKind, SpoolRow, SpoolState
from proxy.store.spool_summary import VerdictSummary
from proxy.store.spool_view import SpooledMessage, sealed_summary, view

DEFAULT_EXPIRY = timedelta(days=14)
# The shortest id prefix :meth:`SpoolStore.resolve` matches: ids are 32 hex
# digits, and 8 of them make an accidental match between two pending
# messages very unlikely while staying easy to read out over the phone.
MIN_PREFIX = 8


class SpoolConflictError(Exception):
    """The same submission id was stored before as something else (a bug:
    ids are unique per submission)."""


@dataclass(frozen=True, slots=True)
class Ambiguous:
    """An id prefix that matches more than one message; ``ids`` lists them
    (at most a few) so the reviewer can type more characters."""

    prefix: str
    ids: tuple[str, ...]


class SpoolStore:
    """Held and deferred messages in the database, content encrypted."""

    def __init__(
        self,
        engine: Engine,
        cipher: MessageCipher,
        *,
        clock: Clock,
        expire_after: timedelta = DEFAULT_EXPIRY,
        lease: timedelta = DEFAULT_LEASE,
    ) -> None:
        self._engine = engine
        self._sessions = session_factory(engine)
        self._cipher = cipher
        self._expire_after = expire_after
        self.clock = clock
        self._delivery = SpoolDelivery(self._sessions, cipher, lease=lease)
        self._decisions = SpoolDecisions(self._sessions, cipher, clock=clock)

    def __repr__(self) -> str:
        return f"SpoolStore({self._engine.url.render_as_string(hide_password=True)})"

    # --- storing ----------------------------------------------------------

    def hold(
        self, submission: Submission, summary: VerdictSummary, *, now: datetime | None = None
    ) -> SpooledMessage:
        """Store ``submission`` for a reviewer; committed when this returns."""
        return self._store(submission, SpoolKind.HOLD, None, summary, now)

    def defer(
        self,
        submission: Submission,
        release_after: datetime,
        summary: VerdictSummary,
        *,
        now: datetime | None = None,
    ) -> SpooledMessage:
        """Store ``submission`` to be sent from ``release_after``; committed
        when this returns."""
        return self._store(submission, SpoolKind.DEFER, utc(release_after), summary, now)

    def _store(
        self,
        submission: Submission,
        kind: SpoolKind,
        release_after: datetime | None,
        summary: VerdictSummary,
        now: datetime | None,
    ) -> SpooledMessage:
        moment = utc(now or self.clock())
        with self._sessions() as session:
            existing = session.get(SpoolRow, submission.id)
            if existing is not None:
                return self._same_submission(existing, submission, kind)
        row = SpoolRow(
            id=submission.id,
            state=(SpoolState.HELD if kind is SpoolKind.HOLD else SpoolState.DEFERRED).value,
            kind=kind.value,
            channel=submission.channel.value,
            sender=submission.sender,
            recipients=list(submission.recipients),
            user=submission.user,
            received_at=utc(submission.received_at),
            release_after=release_after,
            content=self._cipher.encrypt(submission.id, submission.raw),
            content_size=len(submission.raw),
            summary=sealed_summary(summary, submission.id, self._cipher),
            verdict=summary.verdict,
            override=summary.override,
            urgent=summary.urgent,
            attempts=0,
            next_attempt_at=release_after,
            expires_at=moment + self._expire_after,
            updated_at=moment,
            version=1,
        )
        try:
            with self._sessions.begin() as session:
                session.add(row)
        except IntegrityError:
            # A concurrent retry of the same submission committed first.
            with self._sessions() as session:
                existing = session.get(SpoolRow, submission.id)
                if existing is None:
                    raise
                return self._same_submission(existing, submission, kind)
        return view(row, self._cipher)

    def _same_submission(
        self, row: SpoolRow, submission: Submission, kind: SpoolKind
    ) -> SpooledMessage:
        if row.kind != kind.value or row.sender != submission.sender:
            raise SpoolConflictError(
                f"submission {submission.id} is already stored as a different message"
            )
        return view(row, self._cipher)

    # --- reading ----------------------------------------------------------

    def get(self, message_id: str) -> SpooledMessage | None:
        with self._sessions() as session:
            row = session.get(SpoolRow, message_id)
            return None if row is None else view(row, self._cipher)

    def by_state(self, states: Sequence[SpoolState] | None = None) -> list[SpooledMessage]:
        """Rows in ``states`` (all when None), oldest first."""
        query = select(SpoolRow).order_by(SpoolRow.received_at, SpoolRow.id)
        if states is not None:
            query = query.where(SpoolRow.state.in_([s.value for s in states]))
        with self._sessions() as session:
            return [view(row, self._cipher) for row in session.scalars(query)]

    def list_held(self) -> list[SpooledMessage]:
        return self.by_state([SpoolState.HELD])

    def resolve(self, prefix: str) -> SpooledMessage | Ambiguous | None:
        """The message whose id is ``prefix`` or starts with it.

        An exact id always wins. Otherwise a prefix of at least
        :data:`MIN_PREFIX` characters matches; shorter ones match nothing,
        so a stray ``a`` never picks a message to release.
        """
        text = prefix.strip().lower()
        if not text:
            return None
        exact = self.get(text)
        if exact is not None or len(text) < MIN_PREFIX:
            return exact
        query = (
            select(SpoolRow)
            .where(SpoolRow.id.startswith(text, autoescape=True))
            .order_by(SpoolRow.id)
            .limit(6)
        )
        with self._sessions() as session:
            rows = list(session.scalars(query))
            if len(rows) > 1:
                return Ambiguous(text, tuple(row.id for row in rows))
            return view(rows[0], self._cipher) if rows else None

    def raw(self, message_id: str) -> bytes | None:
        """The decrypted message, or None if there is no such row or its
        content was purged. Raises :class:`proxy.store.crypto.DecryptionError` if
        the stored bytes were changed or the key is wrong."""
        with self._sessions() as session:
            blob = session.scalar(select(SpoolRow.content).where(SpoolRow.id == message_id))
        return None if blob is None else self._cipher.decrypt(message_id, blob)


    # --- sending: see proxy.store.spool_delivery ------------------------------

    def due_for_delivery(self, now: datetime, limit: int = 100) -> list[SpooledMessage]:
        return self._delivery.due_for_delivery(now, limit)

    def claim_for_delivery(self, message_id: str, now: datetime, owner: str) -> Lease | None:
        return self._delivery.claim_for_delivery(message_id, now, owner)

    def mark_sent(self, lease: Lease, now: datetime, note: str | None = None) -> bool:
        return self._delivery.mark_sent(lease, now, note)

    def mark_failed(
        self, lease: Lease, code: int, enhanced: str, retry_at: datetime, now: datetime
    ) -> bool:
        return self._delivery.mark_failed(lease, code, enhanced, retry_at, now)

    def mark_refused(self, lease: Lease, code: int, enhanced: str, now: datetime) -> bool:
        return self._delivery.mark_refused(lease, code, enhanced, now)

    # --- decisions on held mail: see proxy.store.spool_decisions --------------

    def release(
        self,
        message_id: str,
        by: str,
        reason: str,
        now: datetime | None = None,
        *,
        replacement: bytes | None = None,
    ) -> DecisionResult:
        return self._decisions.release(message_id, by, reason, now, replacement=replacement)

    def cancel(self, message_id: str, by: str, now: datetime | None = None) -> DecisionResult:
        return self._decisions.cancel(message_id, by, now)

    def reject(
        self, message_id: str, by: str, reason: str, now: datetime | None = None
    ) -> DecisionResult:
        return self._decisions.reject(message_id, by, reason, now)

    def delete(
        self, message_id: str, by: str, reason: str, now: datetime | None = None
    ) -> DecisionResult:
        return self._decisions.delete(message_id, by, reason, now)

    def expire(self, now: datetime) -> list[SpooledMessage]:
        return self._decisions.expire(now)
