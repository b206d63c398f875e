"""The audit trail: who viewed, released, returned, deleted, changed consent
or logged in, recorded in the same transaction as the action itself.

Why a hash chain: an agency must be able to show that the record of who saw
and released what was not quietly edited afterwards. Each entry's hash
covers its own fields and the previous entry's hash, so changing, removing
or reordering any entry breaks the chain at that point and
:meth:`AuditTrail.verify` names it. Appends lock the single ``audit_head``
row first, so concurrent writers (several proxies on one PostgreSQL) queue
up instead of forking the chain.

What goes in: dotted action names, the acting user, an opaque target id and
a few scalar details. Never message text, never what a user typed (record
``reason_given: true``, not the reason), never a client's name, address or
phone number.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from proxy.store.audit_model import GENESIS_HASH, HEAD_ID, AuditEntryRow, AuditHeadRow
from proxy.store.db import Base, Transaction, aware, session_factory

DetailValue = str | int | bool | None

_ACTION = re.compile(r"^[a-z][a-z_]*(\.[a-z][a-z_]*)+$")
_DETAIL_KEY = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_ACTOR = 320
MAX_TARGET = 200
MAX_DETAIL_TEXT = 120
MAX_DETAILS = 20
# Keys that invite free text; say ``reason_given: true`` instead.
_FREE_TEXT_KEYS = frozenset(
    {"body", "content", "text", "reason", "note", "notes", "evidence", "subject", "message"}
)


class AuditError(Exception):
    """The audit trail cannot take an entry (not migrated, or broken); the
    text is safe to show."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    at: datetime
    actor: str
    action: str
    target: str | None
    details: Mapping[str, DetailValue]
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class VerifyReport:
    ok: bool
    checked: int
    # The first sequence number where the chain breaks; None when ok.
    first_broken: int | None = None
    # Plain words, e.g. "entry 17 was altered"; None when ok.
    problem: str | None = None
    # The chain head, so an auditor can note it elsewhere and later notice
    # a rewrite of the whole tail.
    head_seq: int = 0
    head_hash: str = GENESIS_HASH


# --- hashing ----------------------------------------------------------------


def _utc(moment: datetime) -> datetime:
    """Entries take a naive time as UTC, like the database hands it back."""
    return aware(moment).astimezone(UTC)


def canonical_time(moment: datetime) -> str:
    return _utc(moment).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(
    *,
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    target: str | None,
    details: Any,
    prev_hash: str,
) -> str:
    """SHA-256 over a canonical JSON of the entry: sorted keys, no spaces,
    UTC time with microseconds, so both databases and every Python agree."""
    document = {
        "action": action,
        "actor": actor,
        "at": canonical_time(at),
        "details": dict(details) if isinstance(details, Mapping) else details,
        "prev_hash": prev_hash,
        "seq": seq,
        "target": target,
    }
    encoded = json.dumps(
        document, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")
    return hashlib.sha256(encoded).hexdigest()


# --- validation ---------------------------------------------------------------


def _check(
    actor: str, action: str, target: str | None, details: Mapping[str, DetailValue] | None
) -> dict[str, DetailValue]:
    if not actor or not actor.strip() or len(actor) > MAX_ACTOR:
        raise ValueError(f"audit actor must be 1 to {MAX_ACTOR} characters")
    if not _ACTION.match(action) or len(action) > 64:
        raise ValueError(
            f"audit action {action!r} must be a dotted lower-case name such as 'message.release'"
        )
    if target is not None and (not target or len(target) > MAX_TARGET or "\n" in target):
        raise ValueError(f"audit target must be an id of 1 to {MAX_TARGET} characters")
    clean: dict[str, DetailValue] = {}
    for key, value in (details or {}).items():
        if not isinstance(key, str) or not _DETAIL_KEY.match(key):
            raise ValueError(f"audit detail key {key!r} must be a short snake_case name")
        if key in _FREE_TEXT_KEYS:
            raise ValueError(
                f"audit detail {key!r} would hold free text; record '{key}_given: true' instead"
            )
        if isinstance(value, str):
            if len(value) > MAX_DETAIL_TEXT or "\n" in value:
                raise ValueError(
                    f"audit detail {key!r} is too long for an id or a code "
                    f"(at most {MAX_DETAIL_TEXT} characters, one line)"
                )
        elif value is not None and not isinstance(value, bool | int):
            raise ValueError(f"audit detail {key!r} must be text, a whole number, yes/no or null")
        clean[key] = value
    if len(clean) > MAX_DETAILS:
        raise ValueError(f"at most {MAX_DETAILS} audit details per entry")
    return clean


# --- writing ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewEntry:
    """An entry not yet in the chain: its number and hashes are given when it
    is appended. Made by :func:`new_entry`, so it is already checked."""

    actor: str
    action: str
    target: str | None
    details: Mapping[str, DetailValue]
    at: datetime


def new_entry(
    *,
    actor: str,
    action: str,
    target: str | None = None,
    details: Mapping[str, DetailValue] | None = None,
    at: datetime,
) -> NewEntry:
    """Check an entry now (ValueError), so a bad one is refused to whoever
    made it instead of failing a transaction it shares with others later."""
    return NewEntry(actor, action, target, _check(actor, action, target, details), _utc(at))


# The head is claimed through the ORM, so the caller's pending changes are
# flushed first (as any ORM statement would); entries go in through Core, one
# executemany for however many there are.
_CLAIM = (
    update(AuditHeadRow)
    .where(AuditHeadRow.id == HEAD_ID)
    .values(seq=AuditHeadRow.seq + bindparam("claimed"))
    .returning(AuditHeadRow.seq, AuditHeadRow.hash)
    .execution_options(synchronize_session=False)
)
_SET_HEAD_HASH = (
    update(AuditHeadRow)
    .where(AuditHeadRow.id == HEAD_ID)
    .values(hash=bindparam("head_hash"))
    .execution_options(synchronize_session=False)
)
_INSERT_ENTRIES = insert(Base.metadata.tables[AuditEntryRow.__tablename__])


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    target: str | None = None,
    details: Mapping[str, DetailValue] | None = None,
    at: datetime,
) -> None:
    """Append one entry inside the caller's transaction.

    The entry commits or rolls back with the caller's action. Call it as the
    last write of the transaction: from here until commit the transaction
    holds the chain head, and every other writer waits for it.
    """
    entry = new_entry(actor=actor, action=action, target=target, details=details, at=at)
    record_many(session, (entry,))


def record_many(session: Transaction, entries: Sequence[NewEntry]) -> None:
    """Append ``entries``, in order, inside the caller's transaction, with
    one claim of the chain head however many there are (the group writer's
    way: :mod:`proxy.store.record_writer`). The same rules as :func:`record`:
    call it last, the transaction holds the head until it commits."""
    if not entries:
        return
    # UPDATE first: it takes the row lock (PostgreSQL) or the write lock
    # (SQLite) before we read the head, so no two writers see the same one.
    claimed = session.execute(_CLAIM, {"claimed": len(entries)}).one_or_none()
    if claimed is None:
        raise AuditError("the audit trail is not set up in this database; run 'tactful db upgrade'")
    seq, prev_hash = int(claimed[0]) - len(entries) + 1, str(claimed[1])
    rows: list[dict[str, Any]] = []
    for entry in entries:
        digest = entry_hash(
            seq=seq,
            at=entry.at,
            actor=entry.actor,
            action=entry.action,
            target=entry.target,
            details=entry.details,
            prev_hash=prev_hash,
        )
        rows.append(
            {
                "seq": seq,
                "at": entry.at,
                "actor": entry.actor,
                "action": entry.action,
                "target": entry.target,
                "details": dict(entry.details),
                "prev_hash": prev_hash,
                "hash": digest,
            }
        )
        seq, prev_hash = seq + 1, digest
    session.execute(_INSERT_ENTRIES, rows)
    session.execute(_SET_HEAD_HASH, {"head_hash": prev_hash})


def _entry(row: AuditEntryRow) -> AuditEntry:
    return AuditEntry(
        seq=row.seq,
        at=_utc(row.at),
        actor=row.actor,
        action=row.action,
        target=row.target,
        details=dict(row.details),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def _recomputed(row: AuditEntryRow) -> str:
    return entry_hash(
        seq=row.seq,
        at=row.at,
        actor=row.actor,
        action=row.action,
        target=row.target,
        details=row.details,
        prev_hash=row.prev_hash,
    )


class AuditTrail:
    """The audit trail in the database named by ``engine``."""

    def __init__(self, engine: Engine) -> None:
        self._sessions = session_factory(engine)

    def record(
        self,
        *,
        actor: str,
        action: str,
        target: str | None = None,
        details: Mapping[str, DetailValue] | None = None,
        at: datetime,
    ) -> None:
        """Append one entry in a transaction of its own (for events with no
        other write, such as a login or a reviewer opening a message)."""
        with self._sessions.begin() as session:
            record(session, actor=actor, action=action, target=target, details=details, at=at)

    def entries(self, limit: int | None = None) -> list[AuditEntry]:
        """Entries oldest first; with ``limit``, the latest ``limit`` of them."""
        if limit is not None and limit < 0:
            raise ValueError("limit must not be negative")
        with self._sessions() as session:
            if limit is None:
                rows = session.scalars(select(AuditEntryRow).order_by(AuditEntryRow.seq))
                return [_entry(row) for row in rows]
            latest = session.scalars(
                select(AuditEntryRow).order_by(AuditEntryRow.seq.desc()).limit(limit)
            )
            return [_entry(row) for row in reversed(list(latest))]

    def verify(self) -> VerifyReport:
        """Walk the chain up to the head as it is now; report the first place
        it breaks. Entries appended while this runs are left for next time."""
        with self._sessions() as session:
            head = session.get(AuditHeadRow, HEAD_ID)
            if head is None:
                return VerifyReport(
                    ok=False,
                    checked=0,
                    first_broken=1,
                    problem="the audit trail's head record is missing (was the table emptied?)",
                )
            head_seq, head_hash = head.seq, head.hash
            expected, prev, checked = 1, GENESIS_HASH, 0
            rows = session.scalars(
                select(AuditEntryRow)
                .where(AuditEntryRow.seq <= head_seq)
                .order_by(AuditEntryRow.seq)
                .execution_options(yield_per=500)
            )
            for row in rows:
                report = _check_row(row, expected, prev, checked, head_seq, head_hash)
                if report is not None:
                    return report
                checked += 1
                expected, prev = row.seq + 1, row.hash
            # An entry and the head move together in one transaction, so an
            # entry beyond the head (re-read now) was not written by record().
            highest = session.scalar(select(func.max(AuditEntryRow.seq))) or 0
            now_head = session.scalar(
                select(AuditHeadRow.seq).where(AuditHeadRow.id == HEAD_ID)
            ) or 0
        last = expected - 1
        if head_seq > last:
            missing = last + 1
            problem = (
                f"entry {missing} is missing"
                if head_seq == missing
                else f"entries {missing} to {head_seq} are missing"
            )
            return _broken(checked, missing, problem, head_seq, head_hash)
        if head_hash != prev:
            return _broken(
                checked,
                last,
                f"entry {last} does not match the chain head (the trail was rewritten)",
                head_seq,
                head_hash,
            )
        if highest > now_head:
            return _broken(
                checked,
                now_head + 1,
                f"entries {now_head + 1} to {highest} were added outside Tactful "
                "(they are beyond the chain head)",
                head_seq,
                head_hash,
            )
        return VerifyReport(ok=True, checked=checked, head_seq=head_seq, head_hash=head_hash)


def _broken(checked: int, seq: int, problem: str, head_seq: int, head_hash: str) -> VerifyReport:
    return VerifyReport(
        ok=False,
        checked=checked,
        first_broken=seq,
        problem=problem,
        head_seq=head_seq,
        head_hash=head_hash,
    )


def _check_row(
    row: AuditEntryRow, expected: int, prev: str, checked: int, head_seq: int, head_hash: str
) -> VerifyReport | None:
    if row.seq > expected:
        missing = expected
        problem = (
            f"entry {missing} is missing"
            if row.seq == missing + 1
            else f"entries {missing} to {row.seq - 1} are missing"
        )
        return _broken(checked, missing, problem, head_seq, head_hash)
    if _recomputed(row) != row.hash:
        return _broken(checked, row.seq, f"entry {row.seq} was altered", head_seq, head_hash)
    if row.prev_hash != prev:
        # The entry itself is consistent but does not follow the one before:
        # the earlier one was rewritten (with a fresh hash) or moved here.
        before = row.seq - 1
        return _broken(
            checked,
            before,
            f"entry {before} was altered, or entries were reordered "
            f"(entry {row.seq} does not follow it)",
            head_seq,
            head_hash,
        )
    return None
