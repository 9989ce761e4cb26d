"""webhook_deliveries: no index of created_at

Revision ID: 0016_webhook_created_index
Revises: 0015_webhook_claims
Create Date: 2026-12-05 18:10:00

The index served one query, the retention cleanup's "finished rows created before", and cost
an entry at every insert and at every change of a row's status (a new row version). Delivery
ids are time-ordered, so the cleanup reads the age from them on the primary key's index.
"""

from __future__ import annotations

from alembic import op

revision = "0016_webhook_created_index"
down_revision = "0015_webhook_claims"
branch_labels = None
depends_on = None

INDEX = "ix_webhook_deliveries_created_at"


def upgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_index(INDEX)


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.create_index(INDEX, ["created_at"], unique=False)
