"""webhook_deliveries: the latest try on the delivery row

Revision ID: 0017_webhook_last_try
Revises: 0016_webhook_created_index
Create Date: 2026-12-06 04:00:00

A delivery accepted at its first try, nearly all of them, wrote a row to webhook_attempts
beside its own outcome: an insert and two index entries for what the delivery row can hold.
The row now keeps its latest try (when it started and how long it took, beside the status code
and error it had already); webhook_attempts keeps the tries that were not accepted, and a
successful one only when its outcome did not land on the row (another node's claim won).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017_webhook_last_try"
down_revision = "0016_webhook_created_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.add_column(sa.Column("last_attempted_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_duration_ms", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_column("last_duration_ms")
        batch.drop_column("last_attempted_at")
