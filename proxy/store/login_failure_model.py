"""The table behind login throttling: failed logins counted per account and
client address, and per client address alone, shared by every node.

Keys are SHA-256 digests, never what was typed: people type their password
into the name field, and the table must not keep it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from proxy.store.db import Base

# "pair": one account from one client address; "address": every account
# from one client address (password spraying).
SCOPES = ("pair", "address")


class LoginFailureRow(Base):
    __tablename__ = "login_failure"
    __table_args__ = (
        CheckConstraint("scope IN ('pair', 'address')", name="ck_login_failure_scope"),
        Index("ix_login_failure_last_failure", "last_failure"),
    )

    scope: Mapped[str] = mapped_column(String(8), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Failures since window_start; the window is review.login_lockout_minutes.
    failures: Mapped[int] = mapped_column(Integer, nullable=False)
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    last_failure: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # Lock-outs so far: each one lasts twice as long as the one before.
    lockouts: Mapped[int] = mapped_column(Integer, nullable=False)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
