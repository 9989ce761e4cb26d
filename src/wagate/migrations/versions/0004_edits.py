"""after the send: edits, revokes and forwards on message records; the simulator's inbox

Revision ID: 0004_edits
Revises: 0002
Create Date: 2026-12-04 22:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_edits"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("edited_text", sa.Text(), nullable=True))
        batch.add_column(sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("revoked_for", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("forwards", sa.JSON(), nullable=True))
    op.create_table(
        "simulator_inbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "instance_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("chat", sa.String(length=128), nullable=False),
        sa.Column("sender", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_simulator_inbox_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_simulator_inbox")),
        sa.UniqueConstraint("message_id", name=op.f("uq_simulator_inbox_message_id")),
    )
    with op.batch_alter_table("simulator_inbox") as batch:
        batch.create_index(batch.f("ix_simulator_inbox_instance_id"), ["instance_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("simulator_inbox") as batch:
        batch.drop_index(batch.f("ix_simulator_inbox_instance_id"))
    op.drop_table("simulator_inbox")
    with op.batch_alter_table("messages") as batch:
        for column in ("forwards", "revoked_for", "revoked_at", "edited_at", "edited_text"):
            batch.drop_column(column)
