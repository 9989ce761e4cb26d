"""send_policies and send_counters: the per-instance send policy, its breaker and counters;
messages.held_until and held_by: what the policy holds

Revision ID: 0011_send_policy
Revises: 0007_store
Create Date: 2026-12-04 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_send_policy"
down_revision = "0003_groups"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "send_policies",
        sa.Column("instance_id", BIG_ID, nullable=False),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.Column("warmup_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_reason", sa.String(length=64), nullable=True),
        sa.Column("trips", sa.Integer(), nullable=False),
        sa.Column("last_trip_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_send_policies_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("instance_id", name=op.f("pk_send_policies")),
    )
    op.create_table(
        "send_counters",
        sa.Column("instance_id", BIG_ID, nullable=False),
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("window", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_send_counters_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("instance_id", "key", name=op.f("pk_send_counters")),
    )
    op.create_index(
        op.f("ix_send_counters_expires_at"), "send_counters", ["expires_at"], unique=False
    )
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("held_until", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("held_by", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("held_by")
        batch.drop_column("held_until")
    op.drop_index(op.f("ix_send_counters_expires_at"), table_name="send_counters")
    op.drop_table("send_counters")
    op.drop_table("send_policies")
