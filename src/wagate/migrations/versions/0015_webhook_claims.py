"""webhook_deliveries: a claim's lease in a column of its own

Revision ID: 0015_webhook_claims
Revises: 0014_receipt_times
Create Date: 2026-12-05 16:00:00

A claim moved the row's `next_attempt_at` to the end of its lease: the due index holds that
column, so every claim wrote a new row version and an entry into every index of the table.
The lease is now `claimed_until`, which no index holds, and a claim is written in place on
PostgreSQL (a HOT update) when the row's page has room. A row claimed before this keeps its
lease as its next attempt's time and is claimed again after it, as before.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_webhook_claims"
down_revision = "0014_receipt_times"
branch_labels = None
depends_on = None


# The share of a new page of webhook_deliveries its inserts fill (PostgreSQL): a row's claim
# comes right after its insert, before the page holds a dead row to prune, and is written in
# place only into the room left.
FILLFACTOR = 60


def upgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.add_column(sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE webhook_deliveries SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    # A row claimed at the downgrade keeps its lease the old way.
    deliveries = sa.table(
        "webhook_deliveries",
        sa.column("status", sa.String),
        sa.column("next_attempt_at", sa.DateTime(timezone=True)),
        sa.column("claimed_until", sa.DateTime(timezone=True)),
    )
    op.execute(
        sa.update(deliveries)
        .where(deliveries.c.status == "pending", deliveries.c.claimed_until.is_not(None))
        .values(next_attempt_at=deliveries.c.claimed_until)
    )
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_column("claimed_until")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE webhook_deliveries RESET (fillfactor)")
