"""Durable store for held and deferred messages.

The SMTP front door answers 250 for a held or deferred message only after
:meth:`SpoolStore.hold` / :meth:`SpoolStore.defer` return, and they return
only after the row is committed (SQLite WAL + synchronous=FULL, PostgreSQL
synchronous commit). Both are idempotent on the submission id, so a retry
after a crash between commit and reply never stores the message twice.

Sending is claimed with a lease by compare-and-set on ``version``: several
workers or nodes may look at the same due row, exactly one gets it, and a
worker that dies mid-send only delays the message until the lease runs out.
Decisions (release, reject) are compare-and-set too, and the loser gets a
typed :class:`AlreadyDecided` rather than an exception.

These methods block on the database; async callers wrap them in
``asyncio.to_thread``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from proxy.core.clock import Clock
from proxy.core.consent import Channel
from proxy.core.submission import Submission
from proxy.core.verdict import Verdict
from proxy.store.audit import record as audit
from proxy.store.crypto import MessageCipher
from proxy.store.db import aware, session_factory, utc
from proxy.store.spool_model import (
    DELIVERABLE,
    SpoolKind,
    SpoolRow,
    SpoolState,
    aware_or_none,
)

DEFAULT_LEASE = timedelta(minutes=5)
DEFAULT_EXPIRY = timedelta(days=14)
# The shortest id prefix :meth:`SpoolStore.resolve` matches: ids are 32 hex
# digits, and 8 of them make an accidental match between two pending
# messages very unlikely while staying easy to read out over the phone.
MIN_PREFIX = 8
# Key added to the stored summary JSON when a reviewer released the message
# with details masked (see :meth:`SpoolStore.release`): the released notice
# says so, and no schema change is needed for one flag.
REDACTED_ON_RELEASE = "redacted_on_release"
CANCEL_REASON = "withdrawn by the sender"

# Fixed phrases for ``last_error``: the upstream's own text can quote the
# message or its recipients, so it is never stored.
_TEMPORARY_PHRASE = "the agency mail server could not take it yet; it will be retried"
_PERMANENT_PHRASE = "the agency mail server refused it"
_PARTIAL_PHRASE = "the agency mail server refused some recipients"


class SpoolConflictError(Exception):
    """The same submission id was stored before as something else (a bug:
    ids are unique per submission)."""


# --- What is stored about the verdict: no client data -----------------------


@dataclass(frozen=True, slots=True)
class FindingSummary:
    """Where a finding was and what kind it was; never the matched text."""

    entity: str
    location: str
    category: str | None = None
    client_id: str | None = None
    quoted: bool = False


@dataclass(frozen=True, slots=True)
class HitSummary:
    """A rule hit; ``message`` is the policy's plain-words text, which never
    contains the matched value."""

    rule: str
    action: str
    message: str
    recipient: str | None = None
    overridden: bool = False


@dataclass(frozen=True, slots=True)
class RecipientSummary:
    """How the policy saw one recipient: reviewers see it in the queue, and
    the disclosure log needs it when deferred or released mail goes out."""

    address: str
    kind: str  # internal | client | authorized | external
    channel: str  # email | sms
    client_ids: tuple[str, ...] = ()
    verdict: str = "pass"


@dataclass(frozen=True, slots=True)
class VerdictSummary:
    verdict: str
    enforced: str
    mode: str
    urgent: bool = False
    override: bool = False
    hits: tuple[HitSummary, ...] = ()
    findings: tuple[FindingSummary, ...] = ()
    recipients: tuple[RecipientSummary, ...] = ()

    @property
    def rule_codes(self) -> tuple[str, ...]:
        return tuple(sorted({hit.rule for hit in self.hits}))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> VerdictSummary:
        return cls(
            verdict=str(data["verdict"]),
            enforced=str(data["enforced"]),
            mode=str(data["mode"]),
            urgent=bool(data.get("urgent", False)),
            override=bool(data.get("override", False)),
            hits=tuple(HitSummary(**hit) for hit in data.get("hits", ())),
            findings=tuple(FindingSummary(**f) for f in data.get("findings", ())),
            recipients=tuple(
                RecipientSummary(**{**r, "client_ids": tuple(r.get("client_ids", ()))})
                for r in data.get("recipients", ())
            ),
        )


def summarize(verdict: Verdict) -> VerdictSummary:
    """The parts of a verdict worth keeping with a held message.

    The worker's override reason is free text and may name the client, so
    only the fact of an override is kept.
    """
    findings = dict.fromkeys(
        FindingSummary(
            entity=f.entity.value,
            location=f.location,
            category=f.category.value if f.category is not None else None,
            client_id=f.client_id,
            quoted=f.quoted,
        )
        for f in verdict.findings
    )
    hits = dict.fromkeys(
        HitSummary(
            rule=h.rule,
            action=h.action.value,
            message=h.message,
            recipient=h.recipient,
            overridden=h.overridden,
        )
        for h in verdict.hits
    )
    return VerdictSummary(
        verdict=verdict.verdict.value,
        enforced=verdict.enforced.value,
        mode=verdict.mode,
        urgent=verdict.urgent,
        override=verdict.override_reason is not None,
        hits=tuple(hits),
        findings=tuple(findings),
        recipients=tuple(
            RecipientSummary(
                address=rv.recipient.address,
                kind=rv.recipient.kind.value,
                channel=rv.recipient.channel,
                client_ids=tuple(sorted(rv.recipient.client_ids)),
                verdict=rv.verdict.value,
            )
            for rv in verdict.recipients
        ),
    )


# --- Views and results handed to callers ------------------------------------


@dataclass(frozen=True, slots=True)
class SpooledMessage:
    """A read-only view of one row, without its content."""

    id: str
    state: SpoolState
    kind: SpoolKind
    channel: Channel
    sender: str = field(repr=False)
    recipients: tuple[str, ...] = field(repr=False)
    user: str = field(repr=False)
    received_at: datetime
    release_after: datetime | None
    summary: VerdictSummary = field(repr=False)
    decided_by: str | None
    decided_at: datetime | None
    decision_reason: str | None = field(repr=False)
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    expires_at: datetime
    updated_at: datetime
    version: int
    has_content: bool
    content_size: int
    # A reviewer released it with some details masked (release replacement).
    redacted_on_release: bool = False


def _view(row: SpoolRow) -> SpooledMessage:
    return SpooledMessage(
        id=row.id,
        state=SpoolState(row.state),
        kind=SpoolKind(row.kind),
        channel=Channel(row.channel),
        sender=row.sender,
        recipients=tuple(row.recipients),
        user=row.user,
        received_at=aware(row.received_at),
        release_after=aware_or_none(row.release_after),
        summary=VerdictSummary.from_json(row.summary),
        decided_by=row.decided_by,
        decided_at=aware_or_none(row.decided_at),
        decision_reason=row.decision_reason,
        attempts=row.attempts,
        last_error=row.last_error,
        next_attempt_at=aware_or_none(row.next_attempt_at),
        expires_at=aware(row.expires_at),
        updated_at=aware(row.updated_at),
        version=row.version,
        has_content=row.content is not None,
        content_size=row.content_size,
        redacted_on_release=bool(row.summary.get(REDACTED_ON_RELEASE, False)),
    )


@dataclass(frozen=True, slots=True)
class Lease:
    """The right to send one message until ``until``; proof for marking it."""

    message: SpooledMessage
    owner: str
    until: datetime
    version: int


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


@dataclass(frozen=True, slots=True)
class Ambiguous:
    """An id prefix that matches more than one message; ``ids`` lists them
    (at most a few) so the reviewer can type more characters."""

    prefix: str
    ids: tuple[str, ...]


def error_summary(code: int, enhanced: str, *, permanent: bool) -> str:
    """``last_error`` text: the upstream's codes and a fixed phrase."""
    phrase = _PERMANENT_PHRASE if permanent else _TEMPORARY_PHRASE
    return f"{code} {enhanced}: {phrase}".strip()[:200]


def partial_summary(refused: Iterable[int]) -> str:
    codes = ",".join(str(c) for c in sorted(set(refused)))
    return f"{codes}: {_PARTIAL_PHRASE}"[:200]


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
        self._lease = lease
        self.clock = clock

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
            summary=summary.to_json(),
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
        return _view(row)

    @staticmethod
    def _same_submission(
        row: SpoolRow, submission: Submission, kind: SpoolKind
    ) -> SpooledMessage:
        if row.kind != kind.value or row.sender != submission.sender:
            raise SpoolConflictError(
                f"submission {submission.id} is already stored as a different message"
            )
        return _view(row)

    # --- reading ----------------------------------------------------------

    def get(self, message_id: str) -> SpooledMessage | None:
        with self._sessions() as session:
            row = session.get(SpoolRow, message_id)
            return None if row is None else _view(row)

    def by_state(self, states: Sequence[SpoolState] | None = None) -> list[SpooledMessage]:
        """Rows in ``states`` (all when None), oldest first."""
        query = select(SpoolRow).order_by(SpoolRow.received_at, SpoolRow.id)
        if states is not None:
            query = query.where(SpoolRow.state.in_([s.value for s in states]))
        with self._sessions() as session:
            return [_view(row) for row in session.scalars(query)]

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
            return _view(rows[0]) if rows else None

    def raw(self, message_id: str) -> bytes | None:
        """The decrypted message, or None if there is no such row or its
        content was purged. Raises :class:`proxy.store.crypto.DecryptionError` if
        the stored bytes were changed or the key is wrong."""
        with self._sessions() as session:
            blob = session.scalar(select(SpoolRow.content).where(SpoolRow.id == message_id))
        return None if blob is None else self._cipher.decrypt(message_id, blob)

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
            return [_view(row) for row in session.scalars(query)]

    # --- sending ----------------------------------------------------------

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
            if _rowcount(result) != 1:
                return None
            row = session.get(SpoolRow, message_id, populate_existing=True)
            assert row is not None  # we just updated it inside this transaction
            return Lease(_view(row), owner, until, seen + 1)

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
            return _rowcount(result) == 1

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

    # --- decisions ----------------------------------------------------------

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
            if _rowcount(result) != 1:
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
            return Decided(_view(row))

    # --- housekeeping -------------------------------------------------------

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
                if _rowcount(result) == 1:
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
            return [_view(row) for row in rows]

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
            return _rowcount(result) == 1


# Audit action names of decisions on held mail, by the state they lead to.
_DECISION_ACTIONS = {
    SpoolState.RELEASED: "message.release",
    SpoolState.RETURNED: "message.return",
    SpoolState.DELETED: "message.delete",
    SpoolState.CANCELLED: "message.cancel",
}


def _held_by(lease: Lease) -> Any:
    """The row is still ours: nobody changed it since we claimed it."""
    return and_(
        SpoolRow.id == lease.message.id,
        SpoolRow.version == lease.version,
        SpoolRow.lease_owner == lease.owner,
        SpoolRow.state.in_([s.value for s in DELIVERABLE]),
    )


def _rowcount(result: Any) -> int:
    count: int = result.rowcount
    return count

