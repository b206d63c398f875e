"""Consent registry table.

Revision ID: 0001_consent
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_consent"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "consent",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("client_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("aliases", sa.JSON(), nullable=False),
        sa.Column("address", sa.String(320), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("relationship", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("granted_on", sa.Date(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=True),
        sa.Column("preferred", sa.Boolean(), nullable=False),
        sa.Column("identifiers", sa.JSON(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revocation_evidence", sa.Text(), nullable=True),
        sa.UniqueConstraint("client_id", "address", "channel", name="uq_consent_client_address"),
        sa.CheckConstraint("channel IN ('email', 'sms')", name="ck_consent_channel"),
        sa.CheckConstraint(
            "relationship IN ('self', 'authorized')", name="ck_consent_relationship"
        ),
        sa.CheckConstraint("status IN ('granted', 'revoked')", name="ck_consent_status"),
    )
    op.create_index("ix_consent_address", "consent", ["address"])


def downgrade() -> None:
    op.drop_index("ix_consent_address", table_name="consent")
    op.drop_table("consent")
