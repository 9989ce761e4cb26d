"""simulator groups: the simulated network's groups, participants, join requests, and the group
notices for instances on another node

Revision ID: 0003_groups
Revises: 0002
Create Date: 2026-12-04 22:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_groups"
down_revision = "0007_store"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "simulator_groups",
        sa.Column("jid", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=128), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("owner", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("announce", sa.Boolean(), nullable=False),
        sa.Column("locked", sa.Boolean(), nullable=False),
        sa.Column("join_approval", sa.Boolean(), nullable=False),
        sa.Column("ephemeral_s", sa.Integer(), nullable=False),
        sa.Column("picture", sa.String(length=64), nullable=True),
        sa.Column("invite_code", sa.String(length=32), nullable=False),
        sa.PrimaryKeyConstraint("jid", name=op.f("pk_simulator_groups")),
        sa.UniqueConstraint("invite_code", name=op.f("uq_simulator_groups_invite_code")),
    )
    op.create_table(
        "simulator_group_members",
        sa.Column("group_jid", sa.String(length=64), nullable=False),
        sa.Column("jid", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_jid"],
            ["simulator_groups.jid"],
            name=op.f("fk_simulator_group_members_group_jid_simulator_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("group_jid", "jid", name=op.f("pk_simulator_group_members")),
    )
    op.create_index(
        op.f("ix_simulator_group_members_jid"), "simulator_group_members", ["jid"], unique=False
    )
    op.create_table(
        "simulator_group_requests",
        sa.Column("group_jid", sa.String(length=64), nullable=False),
        sa.Column("jid", sa.String(length=128), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_jid"],
            ["simulator_groups.jid"],
            name=op.f("fk_simulator_group_requests_group_jid_simulator_groups"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("group_jid", "jid", name=op.f("pk_simulator_group_requests")),
    )
    op.create_table(
        "simulator_group_notices",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("node", sa.String(length=128), nullable=False),
        sa.Column("instance_id", BIG_ID, nullable=False),
        sa.Column("event", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_simulator_group_notices_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_simulator_group_notices")),
    )
    op.create_index(
        op.f("ix_simulator_group_notices_node"), "simulator_group_notices", ["node"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_simulator_group_notices_node"), table_name="simulator_group_notices")
    op.drop_table("simulator_group_notices")
    op.drop_table("simulator_group_requests")
    op.drop_index(op.f("ix_simulator_group_members_jid"), table_name="simulator_group_members")
    op.drop_table("simulator_group_members")
    op.drop_table("simulator_groups")
