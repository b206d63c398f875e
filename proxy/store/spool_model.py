"""The ``spooled_message`` table: held and deferred mail, durably.

Each row is one accepted submission Tactful owes someone: a supervisor's
decision (held) or a send at the next working window (deferred). The raw
message is only ever stored encrypted (:mod:`proxy.store.crypto`); everything
else in the row is metadata a reviewer or an admin may see -- addresses,
rule codes, entity types, client ids -- and never a matched value.

``version`` is bumped by every state change, so writers use
compare-and-set (``UPDATE ... WHERE version = :seen``) instead of locks:
it works the same on SQLite and PostgreSQL and across several nodes.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from proxy.store.db import Base, aware


class SpoolState(StrEnum):
    HELD = "held"  # waiting for a reviewer
    DEFERRED = "deferred"  # waiting for the next working window
    RELEASED = "released"  # a reviewer let it go; the scheduler sends it
    RETURNED = "returned"  # a reviewer (or the upstream, permanently) refused it
    DELETED = "deleted"  # removed by an admin; content purged
    EXPIRED = "expired"  # nobody decided in time; content purged
    SENT = "sent"  # the upstream accepted it
    CANCELLED = "cancelled"  # the sender withdrew it; content purged


class SpoolKind(StrEnum):
    HOLD = "hold"
    DEFER = "defer"


# States the scheduler sends from.
DELIVERABLE = (SpoolState.DEFERRED, SpoolState.RELEASED)


def _in(column: str, values: type[StrEnum]) -> str:
    return f"{column} IN ({', '.join(repr(v.value) for v in values)})"


class SpoolRow(Base):
    __tablename__ = "spooled_message"
    __table_args__ = (
        CheckConstraint(_in("state", SpoolState), name="ck_spooled_message_state"),
        CheckConstraint(_in("kind", SpoolKind), name="ck_spooled_message_kind"),
        CheckConstraint("channel IN ('email', 'sms')", name="ck_spooled_message_channel"),
        Index("ix_spooled_message_due", "state", "next_attempt_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), nullable=False)
    kind: Mapped[str] = mapped_column(String(8), nullable=False)
    # Which upstream it is for (proxy.core.consent.Channel): the mail server or the SMS provider.
    channel: Mapped[str] = mapped_column(String(8), nullable=False, server_default="email")
    sender: Mapped[str] = mapped_column(String(320), nullable=False)
    recipients: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    user: Mapped[str] = mapped_column(String(320), nullable=False)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    release_after: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # nonce || AES-GCM ciphertext; NULL once purged.
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    content_size: Mapped[int] = mapped_column(Integer, nullable=False)
    # VerdictSummary as JSON: codes, entity types, client ids, locations.
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    verdict: Mapped[str] = mapped_column(String(16), nullable=False)
    override: Mapped[bool] = mapped_column(Boolean, nullable=False)
    urgent: Mapped[bool] = mapped_column(Boolean, nullable=False)
    decided_by: Mapped[str | None] = mapped_column(String(320))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decision_reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False)
    # The upstream's code and a fixed phrase; never upstream text (it may
    # quote the message) and never message content.
    last_error: Mapped[str | None] = mapped_column(String(200))
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    def __repr__(self) -> str:
        # Addresses may be clients'; keep them out of reprs and logs.
        return f"SpoolRow(id={self.id}, state={self.state}, version={self.version})"


def aware_or_none(moment: datetime | None) -> datetime | None:
    return None if moment is None else aware(moment)
