"""Failed logins, counted across connections and nodes.

Revision ID: 0005_login_failures
Revises: 0004_spool_channel

SMTP AUTH, the review app and the SMS API count wrong passwords here (per
account and client address, and per client address), so a guesser cannot
get fresh tries by opening a new connection or asking another node.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_login_failures"
down_revision: str | None = "0004_spool_channel"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "login_failure",
        sa.Column("scope", sa.String(8), primary_key=True),
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_failure", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lockouts", sa.Integer, nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True)),
        sa.CheckConstraint("scope IN ('pair', 'address')", name="ck_login_failure_scope"),
    )
    op.create_index("ix_login_failure_last_failure", "login_failure", ["last_failure"])


def downgrade() -> None:
    op.drop_index("ix_login_failure_last_failure", table_name="login_failure")
    op.drop_table("login_failure")
