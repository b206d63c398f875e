"""Several nodes, one truth: reviewers' sessions and periodic jobs.

Revision ID: 0007_cluster_state
Revises: 0006_consent_scope

Review sessions move from each process's memory into the database, so a
reviewer logged in on one node is logged in on every node and stays logged
in across restarts. ``cluster_job`` records the last run of each periodic
job so that the cluster runs it once per period, whichever node wins.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_cluster_state"
down_revision: str | None = "0006_consent_scope"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "review_session",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("user_name", sa.String(320), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("addresses", sa.Text, nullable=False),
        sa.Column("csrf", sa.String(128), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_review_session_user", "review_session", ["user_name"])
    op.create_index("ix_review_session_last_seen", "review_session", ["last_seen"])
    op.create_table(
        "cluster_job",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("last_run", sa.DateTime(timezone=True), nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("cluster_job")
    op.drop_index("ix_review_session_last_seen", table_name="review_session")
    op.drop_index("ix_review_session_user", table_name="review_session")
    op.drop_table("review_session")
