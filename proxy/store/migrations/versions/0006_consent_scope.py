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
    with op.batch_alter_table("consent") as batch:
        batch.add_column(
            sa.Column("recipient_name", sa.String(200), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("scope", sa.JSON(), nullable=False, server_default="[]"))
        batch.add_column(sa.Column("purpose", sa.Text(), nullable=False, server_default=""))
        batch.add_column(
            sa.Column("part2", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("disclosure") as batch:
        batch.add_column(sa.Column("purpose", sa.Text(), nullable=True))
        batch.add_column(sa.Column("recipient_name", sa.String(200), nullable=True))
        batch.add_column(sa.Column("released_by", sa.String(320), nullable=True))
        batch.add_column(
            sa.Column("part2_notice", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_index("ix_disclosure_at", "disclosure", ["at"])


def downgrade() -> None:
    op.drop_index("ix_disclosure_at", table_name="disclosure")
    with op.batch_alter_table("disclosure") as batch:
        for column in ("part2_notice", "released_by", "recipient_name", "purpose"):
            batch.drop_column(column)
    with op.batch_alter_table("consent") as batch:
        for column in ("part2", "purpose", "scope", "recipient_name"):
            batch.drop_column(column)
