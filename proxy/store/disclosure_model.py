"""Tables of the disclosure log: one row per message and recipient that
carried client information out of the agency, and the clients it named.

Client ids live in their own table so "everything disclosed about C-1001"
is an indexed lookup on every database, not a scan of JSON lists.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
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
        # The retention purge deletes by age.
        Index("ix_disclosure_at", "at"),
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
    # What an accounting of disclosures says beyond the above (migration
    # 0006): the purpose and the party's name from the consent row at the
    # time (None: no consent row states one), the reviewer who released the
    # message (None: it went out without review), and whether the 42 CFR
    # Part 2 notice went with it.
    purpose: Mapped[str | None] = mapped_column(Text, nullable=True)
    recipient_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    released_by: Mapped[str | None] = mapped_column(String(320), nullable=True)
    part2_notice: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())

    def __repr__(self) -> str:
        return f"DisclosureRow(id={self.id}, message_id={self.message_id})"


class DisclosureClientRow(Base):
    __tablename__ = "disclosure_client"
    __table_args__ = (Index("ix_disclosure_client_client_id", "client_id"),)

    disclosure_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("disclosure.id", ondelete="CASCADE"), primary_key=True
    )
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
