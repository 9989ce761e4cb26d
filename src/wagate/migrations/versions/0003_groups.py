"""simulator groups: the simulated network's groups, participants and join requests

Revision ID: 0003_groups
Revises: 0002
Create Date: 2026-12-04 22:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_groups"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "simulator_groups",
        sa.Column("jid", sa.String(length=64), primary_key=True),
        sa.Column("subject", sa.String(length=128), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("owner", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("announce", sa.Boolean(), nullable=False),
        sa.Column("locked", sa.Boolean(), nullable=False),
        sa.Column("join_approval", sa.Boolean(), nullable=False),
        sa.Column("ephemeral_s", sa.Integer(), nullable=False),
        sa.Column("picture", sa.String(length=64), nullable=True),
        sa.Column("invite_code", sa.String(length=32), nullable=False, unique=True),
    )
    op.create_table(
        "simulator_group_members",
        sa.Column(
            "group_jid",
            sa.String(length=64),
            sa.ForeignKey("simulator_groups.jid", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("jid", sa.String(length=128), primary_key=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_simulator_group_members_jid", "simulator_group_members", ["jid"], unique=False
    )
    op.create_table(
        "simulator_group_requests",
        sa.Column(
            "group_jid",
            sa.String(length=64),
            sa.ForeignKey("simulator_groups.jid", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("jid", sa.String(length=128), primary_key=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("simulator_group_requests")
    op.drop_index("ix_simulator_group_members_jid", table_name="simulator_group_members")
    op.drop_table("simulator_group_members")
    op.drop_table("simulator_groups")
