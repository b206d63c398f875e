"""The channel of each spooled message: email or a text (SMS).

Revision ID: 0004_spool_channel
Revises: 0003_audit

The scheduler chooses how to send a spooled message, and the review app
how to judge it again, by its channel, not by guessing from the shape of
its recipient addresses. Rows spooled before this revision are texts when
every recipient is an ``sms:`` address (what the Messages API stores),
email otherwise.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_spool_channel"
down_revision: str | None = "0003_audit"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("spooled_message") as batch:
        batch.add_column(
            sa.Column("channel", sa.String(8), nullable=False, server_default="email")
        )
        batch.create_check_constraint(
            "ck_spooled_message_channel", "channel IN ('email', 'sms')"
        )
    table = sa.table(
        "spooled_message",
        sa.column("id", sa.String),
        sa.column("recipients", sa.JSON),
        sa.column("channel", sa.String),
    )
    connection = op.get_bind()
    texts = [
        row.id
        for row in connection.execute(sa.select(table.c.id, table.c.recipients))
        if row.recipients and all(str(r).startswith("sms:") for r in row.recipients)
    ]
    if texts:
        connection.execute(
            sa.update(table).where(table.c.id.in_(texts)).values(channel="sms")
        )


def downgrade() -> None:
    with op.batch_alter_table("spooled_message") as batch:
        batch.drop_constraint("ck_spooled_message_channel", type_="check")
        batch.drop_column("channel")
