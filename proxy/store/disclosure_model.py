"""Tables of the disclosure log: one row per message and recipient that
carried client information out of the agency, and the clients it named.

Client ids live in their own table so "everything disclosed about C-1001"
is an indexed lookup on every database, not a scan of JSON lists.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from proxy.store.db import Base

DISCLOSURE_KINDS = ("client", "authorized", "external")
CHANNELS = ("email", "sms")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class DisclosureRow(Base):
    __tablename__ = "disclosure"
    __table_args__ = (
        # A message retried after a crash is still one disclosure per recipient.
        UniqueConstraint("message_id", "recipient", "channel", name="uq_disclosure_message"),
        CheckConstraint(_in("recipient_kind", DISCLOSURE_KINDS), name="ck_disclosure_kind"),
        CheckConstraint(_in("channel", CHANNELS), name="ck_disclosure_channel"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    message_id: Mapped[str] = mapped_column(String(64), nullable=False)
    # The address or phone number the information went to: the point of an
    # accounting of disclosures. It stays in the database, never in logs.
    recipient: Mapped[str] = mapped_column(String(320), nullable=False)
    recipient_kind: Mapped[str] = mapped_column(String(16), nullable=False)
    channel: Mapped[str] = mapped_column(String(8), nullable=False)
    categories: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    entity_types: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)

    def __repr__(self) -> str:
        return f"DisclosureRow(id={self.id}, message_id={self.message_id})"


class DisclosureClientRow(Base):
    __tablename__ = "disclosure_client"
    __table_args__ = (Index("ix_disclosure_client_client_id", "client_id"),)

    disclosure_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("disclosure.id", ondelete="CASCADE"), primary_key=True
    )
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
