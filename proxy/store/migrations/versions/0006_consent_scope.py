"""Consent with a scope, and the accounting of disclosures.

Revision ID: 0006_consent_scope
Revises: 0005_login_failures

Consent rows gain the terms of a release of information (who the party
is, which categories it covers, its purpose, whether the client's
substance-use records are 42 CFR Part 2 records). Disclosure entries gain
what an accounting of disclosures must say: the purpose and the party's
name as the consent row gave them at the time, whether a reviewer
released the message and who, and whether the Part 2 notice went with it.
Existing rows get the values that mean "as before": no restriction, no
purpose stated, not reviewed, no notice.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_consent_scope"
down_revision: str | None = "0005_login_failures"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # Plain ADD COLUMN, never a batch (copy-and-move) on SQLite: recreating
    # ``disclosure`` would cascade-delete its ``disclosure_client`` rows.
    op.add_column(
        "consent", sa.Column("recipient_name", sa.String(200), nullable=False, server_default="")
    )
    op.add_column("consent", sa.Column("scope", sa.JSON(), nullable=False, server_default="[]"))
    op.add_column("consent", sa.Column("purpose", sa.Text(), nullable=False, server_default=""))
    op.add_column(
        "consent", sa.Column("part2", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column("disclosure", sa.Column("purpose", sa.Text(), nullable=True))
    op.add_column("disclosure", sa.Column("recipient_name", sa.String(200), nullable=True))
    op.add_column("disclosure", sa.Column("released_by", sa.String(320), nullable=True))
    op.add_column(
        "disclosure",
        sa.Column("part2_notice", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_disclosure_at", "disclosure", ["at"])


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35 and later), for the same reason.
    op.drop_index("ix_disclosure_at", table_name="disclosure")
    for column in ("part2_notice", "released_by", "recipient_name", "purpose"):
        op.drop_column("disclosure", column)
    for column in ("part2", "purpose", "scope", "recipient_name"):
        op.drop_column("consent", column)
