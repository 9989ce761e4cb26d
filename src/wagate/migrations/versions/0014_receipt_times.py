"""messages: a receipt keeps its time and leaves the status column alone

Revision ID: 0014_receipt_times
Revises: 0013_partial_indexes
Create Date: 2026-12-05 15:30:00

The status column is indexed: an update that changes it writes a new entry into every index
of the table, one that changes no indexed column is made in place on PostgreSQL (a HOT
update) when the row's page has room. A sent message's two receipts (delivered, read) are
kept as `delivered_at` and `read_at`; the API shows `delivered` and `read` from them
(wagate.message_status.shown); the messages already receipted are stored so.

No fillfactor below the default: the pages' pruning leaves room for nearly all of them
(measured with the drain benchmark and pg_stat_user_tables.n_tup_hot_upd).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014_receipt_times"
down_revision = "0013_partial_indexes"
branch_labels = None
depends_on = None

MESSAGES = sa.table(
    "messages",
    sa.column("status", sa.String),
    sa.column("delivered_at", sa.DateTime(timezone=True)),
    sa.column("read_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
# A receipt's status and the column that keeps its time; read first (it is shown over
# delivered).
RECEIPTS = (("read", "read_at"), ("delivered", "delivered_at"))


def upgrade() -> None:
    for status, column in RECEIPTS:
        kept = MESSAGES.c[column]
        op.execute(
            sa.update(MESSAGES)
            .where(MESSAGES.c.status == status)
            .values({"status": "sent", column: sa.func.coalesce(kept, MESSAGES.c.updated_at)})
        )


def downgrade() -> None:
    for status, column in RECEIPTS:
        op.execute(
            sa.update(MESSAGES)
            .where(MESSAGES.c.status == "sent", MESSAGES.c[column].is_not(None))
            .values(status=status)
        )
