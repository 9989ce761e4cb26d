"""the simulator's account state: profile and privacy, contacts, blocklist, chat settings

Revision ID: 0005_account
Revises: 0002
Create Date: 2026-12-04 22:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_account"
down_revision = "0004_edits"
branch_labels = None
depends_on = None


BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _owned(table: str, *columns: sa.Column[object], key: tuple[str, ...] = ()) -> None:
    """A table of one instance's rows, dropped with the instance."""
    op.create_table(
        table,
        sa.Column("instance_id", BIG_ID, nullable=False),
        *columns,
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f(f"fk_{table}_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("instance_id", *key, name=op.f(f"pk_{table}")),
    )


def upgrade() -> None:
    _owned(
        "simulator_accounts",
        sa.Column("name", sa.String(length=128), nullable=True),
        sa.Column("about", sa.String(length=256), nullable=True),
        sa.Column("picture_id", sa.String(length=64), nullable=True),
        sa.Column("privacy", sa.JSON(), nullable=False),
    )
    _owned(
        "simulator_contacts",
        sa.Column("jid", sa.String(length=128), nullable=False),
        sa.Column("lid", sa.String(length=128), nullable=False),
        sa.Column("push_name", sa.String(length=128), nullable=True),
        sa.Column("about", sa.String(length=256), nullable=True),
        sa.Column("picture_id", sa.String(length=64), nullable=True),
        sa.Column("business_name", sa.String(length=128), nullable=True),
        key=("jid",),
    )
    op.create_index(op.f("ix_simulator_contacts_lid"), "simulator_contacts", ["lid"])
    _owned(
        "simulator_blocks",
        sa.Column("contact", sa.String(length=128), nullable=False),
        sa.Column("blocked_at", sa.DateTime(timezone=True), nullable=False),
        key=("contact",),
    )
    _owned(
        "simulator_chats",
        sa.Column("chat", sa.String(length=128), nullable=False),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("pinned", sa.Boolean(), nullable=False),
        sa.Column("muted_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disappearing_s", sa.Integer(), nullable=False),
        key=("chat",),
    )


def downgrade() -> None:
    op.drop_table("simulator_chats")
    op.drop_table("simulator_blocks")
    op.drop_index(op.f("ix_simulator_contacts_lid"), table_name="simulator_contacts")
    op.drop_table("simulator_contacts")
    op.drop_table("simulator_accounts")
