"""Tables of the audit trail: the entries, and the one row that heads the chain.

Entries are never updated or deleted (the migration adds triggers that
refuse it), and each entry's ``hash`` covers its fields and the previous
entry's hash, so any edit, removal or reordering breaks the chain where it
happened. The ``audit_head`` row is the single point every writer locks
before appending: two writers can never both take sequence number N.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from proxy.store.db import Base

# prev_hash of entry 1: there is nothing before it.
GENESIS_HASH = "0" * 64
HEAD_ID = 1


class AuditEntryRow(Base):
    __tablename__ = "audit_entry"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    actor: Mapped[str] = mapped_column(String(320), nullable=False)
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    # An opaque id (spool message id, client id, user name); never an
    # address or name of a client.
    target: Mapped[str | None] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)

    def __repr__(self) -> str:
        return f"AuditEntryRow(seq={self.seq}, action={self.action})"


class AuditHeadRow(Base):
    """The last sequence number handed out and its hash (one row, id 1)."""

    __tablename__ = "audit_head"
    __table_args__ = (CheckConstraint(f"id = {HEAD_ID}", name="ck_audit_head_single"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)
