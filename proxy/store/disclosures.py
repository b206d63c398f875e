"""The disclosure log: which client information left the agency, to whom.

HIPAA and 42 CFR Part 2 ask an agency to account for disclosures: for a
client, every message that carried their information to someone outside
the agency (or to the client or their authorised representative), with
the recipient, the channel, what kinds of information, and when. Tactful
records one entry per delivered message and recipient of kind client,
authorized or external -- internal colleagues are not disclosures.

What counts as disclosed is what actually went out: values the proxy
masked before sending are left out. For mail sent later from the spool
(deferred, or released by a reviewer) the stored summary cannot tell
masked findings from the rest, so every finding is counted: the log may
say a little more went out than did, never less.

Recipient addresses of external people are the point of this log; they
live in the database only, never in logs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from functools import cache

from sqlalchemy import Engine, Insert, Select, delete, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from proxy.core.findings import Finding
from proxy.core.verdict import ReleaseTerms, Verdict
from proxy.store.audit import AuditError, NewEntry, new_entry, record_many
from proxy.store.audit import record as audit
from proxy.store.db import Base, Transaction, aware, dialect_name, session_factory, utc
from proxy.store.disclosure_model import (
    CHANNELS,
    DISCLOSURE_KINDS,
    DisclosureClientRow,
    DisclosureRow,
)
from proxy.store.spool_model import SpoolKind
from proxy.store.spool_summary import VerdictSummary
from proxy.store.spool_view import SpooledMessage

log = logging.getLogger(__name__)

# Recipient kinds whose messages carry someone's information to them on
# behalf of a client (everything but internal colleagues).
_SELF_KINDS = ("client", "authorized")


@dataclass(frozen=True, slots=True)
class DisclosureRecipient:
    """One recipient as the disclosure log needs it."""

    address: str
    kind: str  # internal | client | authorized | external
    channel: str  # email | sms
    client_ids: tuple[str, ...] = ()
    # From the release the recipient is authorised under (None: none says).
    purpose: str | None = None
    recipient_name: str | None = None


@dataclass(frozen=True, slots=True)
class Disclosure:
    """One entry: what went to one recipient in one message."""

    message_id: str
    client_ids: tuple[str, ...]
    recipient: str
    recipient_kind: str
    channel: str
    categories: tuple[str, ...]
    entity_types: tuple[str, ...]
    at: datetime
    id: int | None = None  # set once stored
    purpose: str | None = None  # from the consent row; None: not stated
    recipient_name: str | None = None
    released_by: str | None = None  # the reviewer; None: sent without review
    part2_notice: bool = False


# --- deciding what to record ----------------------------------------------------


def _plan(
    message_id: str,
    recipients: Iterable[DisclosureRecipient],
    entities: Iterable[tuple[str, str | None, str | None]],
    at: datetime,
    *,
    released_by: str | None = None,
    part2_notice: bool = False,
) -> list[Disclosure]:
    """``entities`` are (entity type, category, client id) of what went out."""
    seen = list(dict.fromkeys(entities))
    mentioned = {client for _, _, client in seen if client}
    categories = tuple(sorted({category for _, category, _ in seen if category}))
    entity_types = tuple(sorted({entity for entity, _, _ in seen}))
    planned: list[Disclosure] = []
    for recipient in recipients:
        if recipient.kind not in DISCLOSURE_KINDS:
            continue
        clients = set(mentioned)
        if recipient.kind in _SELF_KINDS:
            # A message to a client or their representative is about them.
            clients |= set(recipient.client_ids)
        if not clients and not entity_types:
            continue
        planned.append(
            Disclosure(
                message_id=message_id,
                client_ids=tuple(sorted(clients)),
                recipient=recipient.address,
                recipient_kind=recipient.kind,
                channel=recipient.channel,
                categories=categories,
                entity_types=entity_types,
                at=at,
                purpose=recipient.purpose,
                recipient_name=recipient.recipient_name,
                released_by=released_by,
                part2_notice=part2_notice,
            )
        )
    return planned


def _joined(values: Iterable[str]) -> str | None:
    return "; ".join(dict.fromkeys(v for v in values if v)) or None


def _with_terms(
    recipient: DisclosureRecipient, terms: Sequence[ReleaseTerms]
) -> DisclosureRecipient:
    """The recipient with the purpose and name its releases state."""
    address = recipient.address.lower().removeprefix("sms:")
    mine = [t for t in terms if t.recipient.lower().removeprefix("sms:") == address]
    if not mine:
        return recipient
    return replace(
        recipient,
        purpose=_joined(t.purpose for t in mine),
        recipient_name=_joined(t.recipient_name for t in mine),
    )


def disclosures_from_summary(
    message_id: str,
    summary: VerdictSummary,
    recipients: Sequence[DisclosureRecipient],
    at: datetime,
    *,
    released_by: str | None = None,
) -> list[Disclosure]:
    """What to record for a message sent from the spool (every finding in
    the summary counts: see the module docstring). ``released_by``: the
    reviewer who released it."""
    entities = ((f.entity, f.category, f.client_id) for f in summary.findings)
    return _plan(
        message_id,
        [_with_terms(r, summary.terms) for r in recipients],
        entities,
        at,
        released_by=released_by,
        part2_notice=summary.part2_notice,
    )


def _went_out(finding: Finding, masked: set[str]) -> bool:
    return not (finding.text and finding.text in masked)


def disclosures_for_verdict(verdict: Verdict, message_id: str, at: datetime) -> list[Disclosure]:
    """What to record for a message the proxy just delivered directly."""
    masked = set(verdict.masked_values())
    entities = (
        (f.entity.value, f.category.value if f.category is not None else None, f.client_id)
        for f in verdict.findings
        if _went_out(f, masked)
    )
    recipients = [
        replace(
            _with_terms(
                DisclosureRecipient(
                    address=rv.recipient.address,
                    kind=rv.recipient.kind.value,
                    channel=rv.recipient.channel,
                    client_ids=tuple(sorted(rv.recipient.client_ids)),
                ),
                verdict.terms,
            ),
            address=rv.recipient.phone
            if rv.recipient.channel == "sms" and rv.recipient.phone
            else rv.recipient.address,
        )
        for rv in verdict.recipients
    ]
    # The pipeline never sends a message that needs the notice without it.
    return _plan(message_id, recipients, entities, at, part2_notice=verdict.part2_notice)


def _looks_like_phone(address: str) -> bool:
    digits = address.lstrip("+")
    return address.startswith("+") and digits.isdigit()


def spooled_recipients(message: SpooledMessage) -> list[DisclosureRecipient]:
    """The envelope recipients with the kinds the policy gave them. A
    recipient the summary does not describe (rows stored before summaries
    carried recipients) counts as external: better one entry too many."""
    # Texts from the Messages API are judged and spooled as "sms:+E164".
    known = {r.address.lower().removeprefix("sms:"): r for r in message.summary.recipients}
    result = []
    for envelope_address in message.recipients:
        # Texts are spooled to "sms:+E164"; the accounting names the number.
        address = envelope_address.removeprefix("sms:")
        summary = known.get(address.lower())
        if summary is None:
            channel = "sms" if _looks_like_phone(address) else "email"
            result.append(DisclosureRecipient(address, "external", channel))
        else:
            result.append(
                DisclosureRecipient(
                    summary.address.removeprefix("sms:"),
                    summary.kind,
                    summary.channel,
                    tuple(summary.client_ids),
                )
            )
    return result


# --- writing ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Delivery:
    """The records of one message that went out: its disclosures, the actor
    of its ``message.sent`` entry, and audit entries of its own (such as
    ``message.warn``) that go after that one."""

    message_id: str
    actor: str  # "proxy" (sent straight away) or "scheduler"
    at: datetime
    disclosures: tuple[Disclosure, ...]
    entries: tuple[NewEntry, ...] = ()


# (message_id, recipient, channel): one entry per message and recipient.
_Key = tuple[str, str, str]
_DISCLOSURES = Base.metadata.tables[DisclosureRow.__tablename__]
_DISCLOSURE_CLIENTS = Base.metadata.tables[DisclosureClientRow.__tablename__]
_INSERT_CLIENTS = insert(_DISCLOSURE_CLIENTS)


@cache
def _insert_disclosures(dialect: str) -> Insert:
    """ON CONFLICT DO NOTHING: a concurrent or repeated record of the same
    delivery must not abort the transaction; RETURNING the key says which
    rows were new. One statement for a whole group (insertmanyvalues)."""
    insert_for = postgresql.insert if dialect == "postgresql" else sqlite.insert
    columns = _DISCLOSURES.c
    return (
        insert_for(_DISCLOSURES)
        .on_conflict_do_nothing(index_elements=["message_id", "recipient", "channel"])
        .returning(columns.id, columns.message_id, columns.recipient, columns.channel)
    )


def _row(d: Disclosure) -> dict[str, object]:
    if d.recipient_kind not in DISCLOSURE_KINDS:
        raise ValueError(
            f"recipient kind {d.recipient_kind!r} is not a disclosure; "
            f"use one of {', '.join(DISCLOSURE_KINDS)}"
        )
    if d.channel not in CHANNELS:
        raise ValueError(f"unknown channel {d.channel!r}; use one of {', '.join(CHANNELS)}")
    if not d.message_id or not d.recipient:
        raise ValueError("a disclosure needs a message id and a recipient")
    return {
        "message_id": d.message_id,
        "recipient": d.recipient,
        "recipient_kind": d.recipient_kind,
        "channel": d.channel,
        "categories": sorted(set(d.categories)),
        "entity_types": sorted(set(d.entity_types)),
        "at": utc(d.at),
        "purpose": d.purpose,
        "recipient_name": d.recipient_name,
        "released_by": d.released_by,
        "part2_notice": d.part2_notice,
    }


def _insert_new(session: Transaction, disclosures: Iterable[Disclosure]) -> set[_Key]:
    """Insert inside the caller's transaction; the keys that were new. The
    first of several entries with one key is the one stored, as when they
    were recorded one after another."""
    first: dict[_Key, Disclosure] = {}
    for d in disclosures:
        first.setdefault((d.message_id, d.recipient, d.channel), d)
    if not first:
        return set()
    rows = [_row(d) for d in first.values()]
    statement = _insert_disclosures(dialect_name(session))
    new: dict[_Key, int] = {
        (message_id, recipient, channel): new_id
        for new_id, message_id, recipient, channel in session.execute(statement, rows)
    }
    clients = [
        {"disclosure_id": new_id, "client_id": client_id}
        for key, new_id in new.items()
        for client_id in sorted(set(first[key].client_ids))
    ]
    if clients:
        session.execute(_INSERT_CLIENTS, clients)
    return set(new)


def record_disclosure(
    session: Session,
    *,
    message_id: str,
    client_ids: Sequence[str],
    recipient: str,
    recipient_kind: str,
    channel: str,
    categories: Sequence[str],
    entity_types: Sequence[str],
    at: datetime,
    purpose: str | None = None,
    recipient_name: str | None = None,
    released_by: str | None = None,
    part2_notice: bool = False,
) -> bool:
    """Add one entry inside the caller's transaction. False when this
    message was already recorded for this recipient (a retried delivery)."""
    disclosure = Disclosure(
        message_id=message_id,
        client_ids=tuple(client_ids),
        recipient=recipient,
        recipient_kind=recipient_kind,
        channel=channel,
        categories=tuple(categories),
        entity_types=tuple(entity_types),
        at=at,
        purpose=purpose,
        recipient_name=recipient_name,
        released_by=released_by,
        part2_notice=part2_notice,
    )
    return record_all(session, (disclosure,)) == 1


def record_all(session: Session, disclosures: Iterable[Disclosure]) -> int:
    """Record each planned disclosure; returns how many were new."""
    return len(_insert_new(session, disclosures))


def record_deliveries(session: Transaction, deliveries: Sequence[Delivery]) -> list[int]:
    """Record ``deliveries`` inside the caller's transaction: every
    disclosure in one statement, then the audit entries of them all with one
    claim of the chain head (call it last, see
    :func:`proxy.store.audit.record_many`). Each delivery gets a
    ``message.sent`` entry with how many of its disclosures were new (none
    new, as on a retried delivery: no entry), followed by its own entries.
    Returns how many were new, per delivery."""
    new = _insert_new(session, (d for delivery in deliveries for d in delivery.disclosures))
    counts: list[int] = []
    entries: list[NewEntry] = []
    for delivery in deliveries:
        recorded = 0
        for d in delivery.disclosures:
            key = (d.message_id, d.recipient, d.channel)
            if key in new:
                new.discard(key)  # counted once, for the first delivery naming it
                recorded += 1
        counts.append(recorded)
        if recorded:
            entries.append(
                new_entry(
                    actor=delivery.actor,
                    action="message.sent",
                    target=delivery.message_id,
                    details={"disclosures": recorded},
                    at=delivery.at,
                )
            )
        entries.extend(delivery.entries)
    record_many(session, entries)
    return counts


def _record_delivery(sessions: sessionmaker[Session], delivery: Delivery) -> int:
    """One delivery's records in a transaction of their own."""
    if not delivery.disclosures and not delivery.entries:
        return 0
    with sessions.begin() as session:
        (recorded,) = record_deliveries(session, (delivery,))
    return recorded


def record_spooled_delivery(engine: Engine, message: SpooledMessage, at: datetime) -> int:
    """The scheduler sent ``message`` from the spool: record its disclosures.
    Blocking; returns how many entries were new."""
    reviewed = message.kind is SpoolKind.HOLD
    planned = disclosures_from_summary(
        message.id,
        message.summary,
        spooled_recipients(message),
        utc(at),
        released_by=message.decided_by if reviewed else None,
    )
    delivery = Delivery(message.id, "scheduler", utc(at), tuple(planned))
    return _record_delivery(session_factory(engine), delivery)


def delivery_for_verdict(
    message_id: str, verdict: Verdict, at: datetime, entries: Sequence[NewEntry] = ()
) -> Delivery:
    """The records of a message the proxy delivered straight away."""
    planned = disclosures_for_verdict(verdict, message_id, utc(at))
    return Delivery(message_id, "proxy", utc(at), tuple(planned), tuple(entries))


class DisclosureRecorder:
    """A :class:`proxy.pipeline.act.DeliveryRecorder` that writes each
    message's records in a transaction of its own, in a worker thread (for
    tools and tests; ``tactful serve`` uses the group writer,
    :class:`proxy.store.record_writer.RecordWriter`)."""

    def __init__(self, engine: Engine) -> None:
        self._sessions = session_factory(engine)

    def record(
        self, message_id: str, verdict: Verdict, at: datetime, entries: Sequence[NewEntry] = ()
    ) -> int:
        """Blocking; how many disclosures were new."""
        delivery = delivery_for_verdict(message_id, verdict, at, entries)
        return _record_delivery(self._sessions, delivery)

    async def delivered(
        self, message_id: str, verdict: Verdict, at: datetime, entries: Sequence[NewEntry] = ()
    ) -> None:
        # The message is already with the upstream and the sender is owed a
        # 250: a failure here must be loud in the log but must not turn into
        # an error reply (the sender would send the message again).
        try:
            await asyncio.to_thread(self.record, message_id, verdict, at, entries)
        except (SQLAlchemyError, AuditError) as exc:
            log.error("disclosure for %s not recorded: %s", message_id, type(exc).__name__)


# --- retention ----------------------------------------------------------------


def retention_cutoff(now: datetime, years: int) -> datetime:
    """The same moment ``years`` years before ``now`` (29 February: the 28th)."""
    try:
        return now.replace(year=now.year - years)
    except ValueError:
        return now.replace(year=now.year - years, day=28)


def purge_expired(engine: Engine, *, now: datetime, retention_years: int) -> int:
    """Delete entries older than the retention period; blocking. The purge
    is an audit-trail entry (how many, and the period: never what they
    were) in the same transaction, so the accounting never shrinks
    without a trace."""
    cutoff = retention_cutoff(utc(now), retention_years)
    with session_factory(engine).begin() as session:
        old = select(DisclosureRow.id).where(DisclosureRow.at < cutoff)
        session.execute(
            delete(DisclosureClientRow).where(DisclosureClientRow.disclosure_id.in_(old))
        )
        deleted = session.execute(delete(DisclosureRow).where(DisclosureRow.at < cutoff))
        count = int(getattr(deleted, "rowcount", 0) or 0)
        if count:
            audit(
                session,
                actor="retention",
                action="disclosures.purge",
                details={"deleted": count, "retention_years": retention_years},
                at=utc(now),
            )
    return count


# --- reading ------------------------------------------------------------------


class DisclosureLog:
    """Read the disclosure log in the database named by ``engine``."""

    def __init__(self, engine: Engine) -> None:
        self._sessions = session_factory(engine)

    def for_client(
        self,
        client_id: str,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[Disclosure]:
        """Every entry that names ``client_id``, oldest first; ``since``
        inclusive, ``until`` exclusive."""
        ids = select(DisclosureClientRow.disclosure_id).where(
            DisclosureClientRow.client_id == client_id
        )
        query = select(DisclosureRow).where(DisclosureRow.id.in_(ids))
        if since is not None:
            query = query.where(DisclosureRow.at >= utc(since))
        if until is not None:
            query = query.where(DisclosureRow.at < utc(until))
        return self._load(query)

    def for_message(self, message_id: str) -> list[Disclosure]:
        return self._load(select(DisclosureRow).where(DisclosureRow.message_id == message_id))

    def _load(self, query: Select[DisclosureRow]) -> list[Disclosure]:
        with self._sessions() as session:
            rows = list(session.scalars(query.order_by(DisclosureRow.at, DisclosureRow.id)))
            clients: dict[int, list[str]] = {row.id: [] for row in rows}
            if rows:
                links = session.execute(
                    select(DisclosureClientRow.disclosure_id, DisclosureClientRow.client_id)
                    .where(DisclosureClientRow.disclosure_id.in_(list(clients)))
                    .order_by(DisclosureClientRow.client_id)
                )
                for disclosure_id, client in links:
                    clients[disclosure_id].append(client)
        return [
            Disclosure(
                id=row.id,
                message_id=row.message_id,
                client_ids=tuple(clients[row.id]),
                recipient=row.recipient,
                recipient_kind=row.recipient_kind,
                channel=row.channel,
                categories=tuple(row.categories),
                entity_types=tuple(row.entity_types),
                at=aware(row.at),
                purpose=row.purpose,
                recipient_name=row.recipient_name,
                released_by=row.released_by,
                part2_notice=row.part2_notice,
            )
            for row in rows
        ]
