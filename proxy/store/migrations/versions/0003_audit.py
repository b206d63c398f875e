"""Audit trail (hash-chained, append-only) and disclosure log.

Revision ID: 0003_audit
Revises: 0002_spool

Triggers refuse UPDATE, DELETE and TRUNCATE on ``audit_entry`` on both
databases, so a mistaken query or a careless admin cannot rewrite history;
``tactful audit verify`` still detects tampering by anyone who disables them.
A later migration that rebuilds ``audit_entry`` in SQLite batch mode must
create these triggers again.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_audit"
down_revision: str | None = "0002_spool"
branch_labels: str | None = None
depends_on: str | None = None

_GENESIS = "0" * 64
_KINDS = ("client", "authorized", "external")
_CHANNELS = ("email", "sms")
_REFUSAL = "the audit trail is append-only"


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


_POSTGRES_UP = (
    f"""
    CREATE FUNCTION tactful_audit_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{_REFUSAL}: % on % is not allowed', TG_OP, TG_TABLE_NAME;
    END;
    $$
    """,
    """
    CREATE FUNCTION tactful_audit_head_forward() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF NEW.seq < OLD.seq THEN
            RAISE EXCEPTION 'the audit trail head cannot move backwards';
        END IF;
        RETURN NEW;
    END;
    $$
    """,
    "CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE ON audit_entry "
    "FOR EACH ROW EXECUTE FUNCTION tactful_audit_refuse()",
    "CREATE TRIGGER audit_entry_no_truncate BEFORE TRUNCATE ON audit_entry "
    "FOR EACH STATEMENT EXECUTE FUNCTION tactful_audit_refuse()",
    "CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head "
    "FOR EACH ROW EXECUTE FUNCTION tactful_audit_refuse()",
    "CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head "
    "FOR EACH STATEMENT EXECUTE FUNCTION tactful_audit_refuse()",
    "CREATE TRIGGER audit_head_forward BEFORE UPDATE ON audit_head "
    "FOR EACH ROW EXECUTE FUNCTION tactful_audit_head_forward()",
)
_POSTGRES_DOWN = (
    "DROP TRIGGER IF EXISTS audit_head_forward ON audit_head",
    "DROP TRIGGER IF EXISTS audit_head_no_truncate ON audit_head",
    "DROP TRIGGER IF EXISTS audit_head_no_delete ON audit_head",
    "DROP TRIGGER IF EXISTS audit_entry_no_truncate ON audit_entry",
    "DROP TRIGGER IF EXISTS audit_entry_append_only ON audit_entry",
    "DROP FUNCTION IF EXISTS tactful_audit_head_forward()",
    "DROP FUNCTION IF EXISTS tactful_audit_refuse()",
)
_SQLITE_UP = (
    "CREATE TRIGGER audit_entry_no_update BEFORE UPDATE ON audit_entry "
    f"BEGIN SELECT RAISE(ABORT, '{_REFUSAL}: UPDATE on audit_entry is not allowed'); END",
    "CREATE TRIGGER audit_entry_no_delete BEFORE DELETE ON audit_entry "
    f"BEGIN SELECT RAISE(ABORT, '{_REFUSAL}: DELETE on audit_entry is not allowed'); END",
    "CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head "
    f"BEGIN SELECT RAISE(ABORT, '{_REFUSAL}: DELETE on audit_head is not allowed'); END",
    "CREATE TRIGGER audit_head_forward BEFORE UPDATE ON audit_head WHEN NEW.seq < OLD.seq "
    "BEGIN SELECT RAISE(ABORT, 'the audit trail head cannot move backwards'); END",
)
_SQLITE_DOWN = (
    "DROP TRIGGER IF EXISTS audit_head_forward",
    "DROP TRIGGER IF EXISTS audit_head_no_delete",
    "DROP TRIGGER IF EXISTS audit_entry_no_delete",
    "DROP TRIGGER IF EXISTS audit_entry_no_update",
)


def _dialect() -> str:
    return op.get_bind().dialect.name


def upgrade() -> None:
    op.create_table(
        "audit_entry",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(320), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(200), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_audit_head_single"),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": _GENESIS}])
    op.create_table(
        "disclosure",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(64), nullable=False),
        sa.Column("recipient", sa.String(320), nullable=False),
        sa.Column("recipient_kind", sa.String(16), nullable=False),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("categories", sa.JSON(), nullable=False),
        sa.Column("entity_types", sa.JSON(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("message_id", "recipient", "channel", name="uq_disclosure_message"),
        sa.CheckConstraint(_in("recipient_kind", _KINDS), name="ck_disclosure_kind"),
        sa.CheckConstraint(_in("channel", _CHANNELS), name="ck_disclosure_channel"),
    )
    op.create_table(
        "disclosure_client",
        sa.Column(
            "disclosure_id",
            sa.Integer(),
            sa.ForeignKey("disclosure.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("client_id", sa.String(64), primary_key=True),
    )
    op.create_index("ix_disclosure_client_client_id", "disclosure_client", ["client_id"])
    statements = {"postgresql": _POSTGRES_UP, "sqlite": _SQLITE_UP}.get(_dialect(), ())
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    statements = {"postgresql": _POSTGRES_DOWN, "sqlite": _SQLITE_DOWN}.get(_dialect(), ())
    for statement in statements:
        op.execute(statement)
    op.drop_index("ix_disclosure_client_client_id", table_name="disclosure_client")
    op.drop_table("disclosure_client")
    op.drop_table("disclosure")
    op.drop_table("audit_head")
    op.drop_table("audit_entry")
