"""chat_messages.media_key: a history message's media is kept while the message is;
pending_message_changes: an edit or revoke that arrived before its message was kept

Revision ID: 0012_history
Revises: 0012_scale
Create Date: 2026-12-05 01:10:00

The key is copied out of each message's media reference (the JSON `media` column), so that
the media sweep counts the history's references on an index instead of reading JSON.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_history"
down_revision = "0012_scale"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MEDIA_KEY_INDEX = "ix_chat_messages_media_key"
BACKFILL = {
    "sqlite": "UPDATE chat_messages SET media_key = json_extract(media, '$.key') "
    "WHERE media IS NOT NULL",
    "postgresql": "UPDATE chat_messages SET media_key = media->>'key' WHERE media IS NOT NULL",
}


def upgrade() -> None:
    with op.batch_alter_table("chat_messages") as batch:
        batch.add_column(sa.Column("media_key", sa.String(length=64), nullable=True))
    op.execute(BACKFILL[op.get_bind().dialect.name])
    # Partial: only the messages with media are in it (a text history adds nothing).
    op.create_index(
        MEDIA_KEY_INDEX,
        "chat_messages",
        ["media_key"],
        sqlite_where=sa.text("media_key IS NOT NULL"),
        postgresql_where=sa.text("media_key IS NOT NULL"),
    )
    op.create_table(
        "pending_message_changes",
        sa.Column("instance_id", BIG_ID, nullable=False),
        sa.Column("message_id", sa.String(length=128), nullable=False),
        sa.Column("edited_text", sa.Text(), nullable=True),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_pending_message_changes_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "instance_id", "message_id", name=op.f("pk_pending_message_changes")
        ),
    )
    op.create_index(
        op.f("ix_pending_message_changes_created_at"),
        "pending_message_changes",
        ["created_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_pending_message_changes_created_at"), table_name="pending_message_changes"
    )
    op.drop_table("pending_message_changes")
    op.drop_index(MEDIA_KEY_INDEX, table_name="chat_messages")
    with op.batch_alter_table("chat_messages") as batch:
        batch.drop_column("media_key")
