"""messages' WhatsApp ids and dead letters, webhook_deliveries' due rows: partial indexes

Revision ID: 0013_partial_indexes
Revises: 0012_history
Create Date: 2026-12-05 12:00:00

An update that cannot stay on its row's page (a status change) writes an entry into every
index of the table, except a partial index whose condition the new row does not meet. Every
send changes its message's row about four times and its webhook delivery's twice: the
WhatsApp id index held the messages not sent yet (no id), the dead letters' index every
message (false), the due index every delivery ever made.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_partial_indexes"
down_revision = "0012_history"
branch_labels = None
depends_on = None

# (index, table, its columns before, after, and the rows it keeps: SQLite, PostgreSQL)
PARTIAL = (
    (
        "ix_messages_message_id",
        "messages",
        ["message_id"],
        ["message_id"],
        ("message_id IS NOT NULL", "message_id IS NOT NULL"),
    ),
    (
        "ix_messages_dead_lettered",
        "messages",
        ["dead_lettered"],
        ["id"],
        ("dead_lettered IS 1", "dead_lettered IS true"),
    ),
    (
        "ix_webhook_deliveries_due",
        "webhook_deliveries",
        ["status", "next_attempt_at"],
        ["next_attempt_at"],
        ("status = 'pending'", "status = 'pending'"),
    ),
)


def upgrade() -> None:
    for name, table, _, columns, (on_sqlite, on_postgresql) in PARTIAL:
        op.drop_index(name, table_name=table)
        op.create_index(
            name,
            table,
            columns,
            sqlite_where=sa.text(on_sqlite),
            postgresql_where=sa.text(on_postgresql),
        )


def downgrade() -> None:
    for name, table, columns, _, _ in PARTIAL:
        op.drop_index(name, table_name=table)
        op.create_index(name, table, columns)
