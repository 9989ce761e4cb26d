"""sink_deliveries: the outbox of the broker transports (RabbitMQ, NATS); instance_sink_filters:
the events of an instance each transport publishes

Revision ID: 0009_sinks
Revises: 0002
Create Date: 2026-12-04 22:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_sinks"
down_revision = "0008_mediastore"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "sink_deliveries",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("sink", sa.String(length=16), nullable=False),
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("instance_id", BIG_ID, nullable=False),
        sa.Column("instance", sa.String(length=64), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sink_deliveries")),
    )
    with op.batch_alter_table("sink_deliveries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sink_deliveries_event_id"), ["event_id"], unique=False)
        batch_op.create_index(
            "ix_sink_deliveries_instance", ["sink", "instance_id", "status", "id"], unique=False
        )
        batch_op.create_index(
            "ix_sink_deliveries_due", ["sink", "status", "next_attempt_at"], unique=False
        )
        batch_op.create_index("ix_sink_deliveries_finished", ["status", "created_at"], unique=False)

    op.create_table(
        "instance_sink_filters",
        sa.Column("instance_id", BIG_ID, nullable=False),
        sa.Column("sink", sa.String(length=16), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_instance_sink_filters_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("instance_id", "sink", name=op.f("pk_instance_sink_filters")),
    )


def downgrade() -> None:
    op.drop_table("instance_sink_filters")
    op.drop_table("sink_deliveries")
