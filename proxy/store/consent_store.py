"""The consent registry in SQL: the durable copy the proxy snapshots.

Imports are all-or-nothing so the registry is never half old, half new.
A revocation is evidence-backed and sticky: re-importing an old export that
still says ``granted`` must not quietly undo a client's "stop contacting me".
Only a row whose ``granted_on`` is after the revocation (a new consent) can
turn a revoked row back to granted.
"""

from __future__ import annotations

import builtins
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Engine,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
    select,
)
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from proxy.core.clock import change_stamp
from proxy.core.consent import Channel, ConsentRecord, ConsentStatus, Registry, Relationship
from proxy.store.audit import record as audit
from proxy.store.db import Base, aware, session_factory, utc

IMPORT_REVOCATION_EVIDENCE = "marked revoked in an imported consent file"
# Audit actor when no signed-in user is known (the tactful command line).
CLI_ACTOR = "command line"

_Key = tuple[str, str, str]


class _Outcome(Enum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    KEPT_REVOKED = "kept_revoked"


class ConsentStoreError(Exception):
    """A store operation was refused; the text names no client data."""


class ConsentRow(Base):
    """One consent record plus the bookkeeping the CSV does not carry."""

    __tablename__ = "consent"
    __table_args__ = (
        UniqueConstraint("client_id", "address", "channel", name="uq_consent_client_address"),
        Index("ix_consent_address", "address"),
        CheckConstraint("channel IN ('email', 'sms')", name="ck_consent_channel"),
        CheckConstraint("relationship IN ('self', 'authorized')", name="ck_consent_relationship"),
        CheckConstraint("status IN ('granted', 'revoked')", name="ck_consent_status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(String(64), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    aliases: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    address: Mapped[str] = mapped_column(String(320), nullable=False)
    channel: Mapped[str] = mapped_column(String(8), nullable=False)
    relationship: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    granted_on: Mapped[date] = mapped_column(Date, nullable=False)
    expires_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    preferred: Mapped[bool] = mapped_column(Boolean, nullable=False)
    identifiers: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    notes: Mapped[str] = mapped_column(Text, nullable=False)
    # The terms of a release of information (migration 0006).
    recipient_name: Mapped[str] = mapped_column(String(200), nullable=False, server_default="")
    scope: Mapped[list[str]] = mapped_column(JSON, nullable=False, server_default="[]")
    purpose: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    part2: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revocation_evidence: Mapped[str | None] = mapped_column(Text, nullable=True)

    def __repr__(self) -> str:
        # Names, addresses and notes are client data: keep them out of reprs.
        return f"ConsentRow(id={self.id}, channel={self.channel}, status={self.status})"

    @property
    def key(self) -> _Key:
        return (self.client_id, self.address, self.channel)

    def to_record(self) -> ConsentRecord:
        return ConsentRecord(
            client_id=self.client_id,
            name=self.name,
            aliases=tuple(self.aliases),
            address=self.address,
            channel=Channel(self.channel),
            relationship=Relationship(self.relationship),
            status=ConsentStatus(self.status),
            granted_on=self.granted_on,
            expires_on=self.expires_on,
            preferred=self.preferred,
            identifiers=tuple(self.identifiers),
            notes=self.notes,
            recipient_name=self.recipient_name,
            scope=tuple(self.scope),
            purpose=self.purpose,
            part2=self.part2,
        )


def _record_values(record: ConsentRecord) -> dict[str, Any]:
    """Column values the CSV controls (everything but bookkeeping)."""
    return {
        "client_id": record.client_id,
        "name": record.name,
        "aliases": list(record.aliases),
        "address": record.address,
        "channel": record.channel.value,
        "relationship": record.relationship.value,
        "status": record.status.value,
        "granted_on": record.granted_on,
        "expires_on": record.expires_on,
        "preferred": record.preferred,
        "identifiers": list(record.identifiers),
        "notes": record.notes,
        "recipient_name": record.recipient_name,
        "scope": list(record.scope),
        "purpose": record.purpose,
        "part2": record.part2,
    }


def _record_key(record: ConsentRecord) -> _Key:
    return (record.client_id, record.address, record.channel.value)


@dataclass(frozen=True, slots=True)
class ImportSummary:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    # Rows the file says are granted but that were revoked after the file's
    # granted_on date: left revoked (see the module docstring).
    kept_revoked: int = 0

    @property
    def total(self) -> int:
        return self.created + self.updated + self.unchanged + self.kept_revoked


class ConsentStore:
    """Consent records in the database named by ``engine``.

    The schema comes from the migrations (:func:`proxy.store.migrations.upgrade`);
    the store never creates tables itself.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = session_factory(engine)

    def import_records(
        self, records: Iterable[ConsentRecord], *, at: datetime, actor: str = CLI_ACTOR
    ) -> ImportSummary:
        """Insert or update every record in one transaction (all or nothing),
        keyed on (client_id, address, channel). ``actor`` is who imported,
        for the audit trail."""
        now = utc(at)
        incoming: dict[_Key, ConsentRecord] = {}
        for position, record in enumerate(records, start=1):
            key = _record_key(record)
            if key in incoming:
                raise ConsentStoreError(
                    f"record {position} repeats an earlier record's client_id, address and "
                    "channel; nothing was imported"
                )
            incoming[key] = record
        counts: Counter[_Outcome] = Counter()
        # Clients whose consent flipped, for the audit trail: status -> ids.
        flipped: dict[str, set[str]] = {"revoked": set(), "granted": set()}
        try:
            with self._sessions.begin() as session:
                existing = {row.key: row for row in session.scalars(select(ConsentRow))}
                for key, record in incoming.items():
                    row = existing.get(key)
                    if row is None:
                        session.add(self._new_row(record, now))
                        counts[_Outcome.CREATED] += 1
                    else:
                        before = row.status
                        counts[self._apply(row, record, now)] += 1
                        if row.status != before:
                            flipped[row.status].add(row.client_id)
                _audit_import(session, actor, counts, flipped, now)
        except IntegrityError:
            raise ConsentStoreError(
                "the database refused the import (another import may have run at the same "
                "time); nothing was imported, run the import again"
            ) from None
        except DataError:
            raise ConsentStoreError(
                "a value does not fit the consent table (too long?); nothing was imported"
            ) from None
        return ImportSummary(
            created=counts[_Outcome.CREATED],
            updated=counts[_Outcome.UPDATED],
            unchanged=counts[_Outcome.UNCHANGED],
            kept_revoked=counts[_Outcome.KEPT_REVOKED],
        )

    @staticmethod
    def _new_row(record: ConsentRecord, now: datetime) -> ConsentRow:
        revoked = record.status is ConsentStatus.REVOKED
        return ConsentRow(
            **_record_values(record),
            created_at=now,
            updated_at=change_stamp(),
            revoked_at=now if revoked else None,
            revocation_evidence=IMPORT_REVOCATION_EVIDENCE if revoked else None,
        )

    @staticmethod
    def _apply(row: ConsentRow, record: ConsentRecord, now: datetime) -> _Outcome:
        """Update ``row`` from ``record``; returns which counter to bump."""
        values = _record_values(record)
        outcome = _Outcome.UPDATED
        if (
            row.status == ConsentStatus.REVOKED.value
            and record.status is ConsentStatus.GRANTED
            and row.revoked_at is not None
            and record.granted_on <= aware(row.revoked_at).date()
        ):
            values["status"] = ConsentStatus.REVOKED.value
            outcome = _Outcome.KEPT_REVOKED
        changed = {k: v for k, v in values.items() if getattr(row, k) != v}
        if not changed:
            return _Outcome.UNCHANGED if outcome is _Outcome.UPDATED else outcome
        for column, value in changed.items():
            setattr(row, column, value)
        row.updated_at = change_stamp()
        if "status" in changed:
            if values["status"] == ConsentStatus.REVOKED.value:
                row.revoked_at = now
                row.revocation_evidence = IMPORT_REVOCATION_EVIDENCE
            else:
                row.revoked_at = None
                row.revocation_evidence = None
        return outcome

    def list(self, client_id: str | None = None) -> builtins.list[ConsentRecord]:
        """Records, optionally for one client, in a stable order."""
        query = select(ConsentRow).order_by(
            ConsentRow.client_id, ConsentRow.relationship.desc(), ConsentRow.channel,
            ConsentRow.address,
        )
        if client_id is not None:
            query = query.where(ConsentRow.client_id == client_id)
        with self._sessions() as session:
            return [row.to_record() for row in session.scalars(query)]

    def export(self) -> builtins.list[ConsentRecord]:
        """Every record, ready for :func:`proxy.store.consent_csv.write_consent_csv`."""
        return self.list()

    def revoke(
        self,
        client_id: str,
        *,
        address: str | None = None,
        channel: Channel | None = None,
        evidence: str,
        at: datetime,
        actor: str = CLI_ACTOR,
    ) -> int:
        """Mark a client's granted rows revoked; returns how many changed.

        ``at`` is when the client withdrew consent (it may be in the past).

        ``address`` must already be normalised (see
        :func:`proxy.store.consent_address.normalize_address`). Rows that are already
        revoked keep their original evidence and are not counted.
        """
        if not evidence.strip():
            raise ValueError("revoking consent needs evidence (who asked, when and how)")
        moment = utc(at)
        query = select(ConsentRow).where(
            ConsentRow.client_id == client_id,
            ConsentRow.status == ConsentStatus.GRANTED.value,
        )
        if address is not None:
            query = query.where(ConsentRow.address == address)
        if channel is not None:
            query = query.where(ConsentRow.channel == channel.value)
        with self._sessions.begin() as session:
            rows = builtins.list(session.scalars(query))
            for row in rows:
                row.status = ConsentStatus.REVOKED.value
                row.revoked_at = moment
                row.revocation_evidence = evidence.strip()
                # A change stamp, not ``at``: running proxies notice registry
                # changes by the latest updated_at (proxy.store.registry_source), so
                # a back-dated revocation must still move it forward.
                row.updated_at = change_stamp()
            if rows:
                # The evidence is free text (it names people): only its presence.
                audit(
                    session,
                    actor=actor,
                    action="consent.revoke",
                    target=client_id,
                    details={
                        "rows": len(rows),
                        "channel": channel.value if channel is not None else None,
                        "address_given": address is not None,
                        "evidence_given": True,
                    },
                    at=moment,
                )
        return len(rows)

    def count(
        self,
        client_id: str | None = None,
        *,
        address: str | None = None,
        channel: Channel | None = None,
    ) -> int:
        """Rows in any status, e.g. to tell "no such client" from "already revoked"."""
        query = select(func.count()).select_from(ConsentRow)
        if client_id is not None:
            query = query.where(ConsentRow.client_id == client_id)
        if address is not None:
            query = query.where(ConsentRow.address == address)
        if channel is not None:
            query = query.where(ConsentRow.channel == channel.value)
        with self._sessions() as session:
            return int(session.scalar(query) or 0)

    def snapshot(self) -> Registry:
        """An immutable copy for detectors and the policy."""
        return Registry(self.export())


def _audit_import(
    session: Session,
    actor: str,
    counts: Counter[_Outcome],
    flipped: dict[str, set[str]],
    now: datetime,
) -> None:
    """One summary entry per import, and one per client whose consent the
    import revoked or granted again; counts and client ids only."""
    audit(
        session,
        actor=actor,
        action="consent.import",
        details={
            "created": counts[_Outcome.CREATED],
            "updated": counts[_Outcome.UPDATED],
            "unchanged": counts[_Outcome.UNCHANGED],
            "kept_revoked": counts[_Outcome.KEPT_REVOKED],
        },
        at=now,
    )
    for status, action in (("revoked", "consent.revoke"), ("granted", "consent.grant")):
        for client_id in sorted(flipped[status]):
            audit(
                session, actor=actor, action=action, target=client_id,
                details={"source": "import"}, at=now,
            )
