"""Held and deferred messages (content encrypted at rest).

Revision ID: 0002_spool
Revises: 0001_consent
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_spool"
down_revision: str | None = "0001_consent"
branch_labels: str | None = None
depends_on: str | None = None

_STATES = ("held", "deferred", "released", "returned", "deleted", "expired", "sent", "cancelled")
_KINDS = ("hold", "defer")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        "spooled_message",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("sender", sa.String(320), nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("user", sa.String(320), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("release_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("content_size", sa.Integer(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("override", sa.Boolean(), nullable=False),
        sa.Column("urgent", sa.Boolean(), nullable=False),
        sa.Column("decided_by", sa.String(320), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(200), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(64), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(_in("state", _STATES), name="ck_spooled_message_state"),
        sa.CheckConstraint(_in("kind", _KINDS), name="ck_spooled_message_kind"),
    )
    op.create_index("ix_spooled_message_due", "spooled_message", ["state", "next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_spooled_message_due", table_name="spooled_message")
    op.drop_table("spooled_message")
