"""The tables that let several Tactful nodes on one database act as one:
reviewers' sessions, and the last run of each periodic job.

A session is keyed by the SHA-256 of its cookie token, so a copy of the
database (a backup, a replica) does not hand out live logins.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from proxy.store.db import Base


class ReviewSessionRow(Base):
    __tablename__ = "review_session"
    __table_args__ = (
        Index("ix_review_session_user", "user_name"),
        Index("ix_review_session_last_seen", "last_seen"),
    )

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_name: Mapped[str] = mapped_column(String(320), nullable=False)
    role: Mapped[str] = mapped_column(String(32), nullable=False)
    # JSON list of the reviewer's own addresses (shown on the pages).
    addresses: Mapped[str] = mapped_column(Text, nullable=False)
    csrf: Mapped[str] = mapped_column(String(128), nullable=False)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class ClusterJobRow(Base):
    """One periodic job (the reviewers' digest, ...): when it last ran and
    on which node. A node runs the job only if it moves ``last_run``
    forward by compare-and-set, so the cluster runs it once per period."""

    __tablename__ = "cluster_job"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_run: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    holder: Mapped[str] = mapped_column(String(200), nullable=False)
