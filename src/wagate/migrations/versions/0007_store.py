"""The history store: chat_messages, chats, contacts and the full-text index of messages

Revision ID: 0007_store
Revises: 0002
Create Date: 2026-12-04 22:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_store"
down_revision = "0009_sinks"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# What a search matches: the text as it reads now (an edit replaces it) and the caption. The
# same words on both databases: PostgreSQL's `simple` configuration and FTS5's unicode61
# tokenizer without diacritic folding both lowercase and split on what is not a letter or digit.
PG_SEARCH = """
ALTER TABLE chat_messages ADD COLUMN search tsvector GENERATED ALWAYS AS (
    to_tsvector('simple'::regconfig,
                coalesce(edited_text, text, '') || ' ' || coalesce(caption, ''))
) STORED
"""
PG_SEARCH_INDEX = "CREATE INDEX ix_chat_messages_search ON chat_messages USING gin (search)"

# Contentless: the words are indexed, the text stays in chat_messages only. The triggers
# hand FTS5 the old words on delete and update (it cannot read them back itself); the indexed
# body is the same expression as PostgreSQL's, over new.* or old.*.
SQLITE_SEARCH = [
    """
    CREATE VIRTUAL TABLE chat_messages_fts USING fts5(
        body, content='', tokenize='unicode61 remove_diacritics 0'
    )
    """,
    """
    CREATE TRIGGER chat_messages_fts_insert AFTER INSERT ON chat_messages BEGIN
        INSERT INTO chat_messages_fts(rowid, body) VALUES (
            new.id, coalesce(new.edited_text, new.text, '') || ' ' || coalesce(new.caption, ''));
    END
    """,
    """
    CREATE TRIGGER chat_messages_fts_delete AFTER DELETE ON chat_messages BEGIN
        INSERT INTO chat_messages_fts(chat_messages_fts, rowid, body) VALUES (
            'delete', old.id,
            coalesce(old.edited_text, old.text, '') || ' ' || coalesce(old.caption, ''));
    END
    """,
    """
    CREATE TRIGGER chat_messages_fts_update AFTER UPDATE OF text, caption, edited_text
    ON chat_messages BEGIN
        INSERT INTO chat_messages_fts(chat_messages_fts, rowid, body) VALUES (
            'delete', old.id,
            coalesce(old.edited_text, old.text, '') || ' ' || coalesce(old.caption, ''));
        INSERT INTO chat_messages_fts(rowid, body) VALUES (
            new.id, coalesce(new.edited_text, new.text, '') || ' ' || coalesce(new.caption, ''));
    END
    """,
]


def _chat_messages() -> None:
    op.create_table(
        "chat_messages",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("instance_id", BIG_ID, nullable=False),
        sa.Column("chat", sa.String(length=128), nullable=False),
        sa.Column("message_id", sa.String(length=128), nullable=False),
        sa.Column("sender", sa.String(length=128), nullable=True),
        sa.Column("from_me", sa.Boolean(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("caption", sa.Text(), nullable=True),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("edited_text", sa.Text(), nullable=True),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reply_to", sa.String(length=128), nullable=True),
        sa.Column("reactions", sa.JSON(), nullable=True),
        sa.Column("media", sa.JSON(), nullable=True),
        sa.Column("extra", sa.JSON(), nullable=True),
        sa.Column("correlation_id", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_chat_messages_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_messages")),
        sa.UniqueConstraint("instance_id", "message_id", "chat", name="uq_chat_messages_key"),
    )
    op.create_index(
        "ix_chat_messages_chat_time", "chat_messages", ["instance_id", "chat", "timestamp", "id"]
    )
    op.create_index(
        "ix_chat_messages_instance_time", "chat_messages", ["instance_id", "timestamp", "id"]
    )


def _chats_and_contacts() -> None:
    op.create_table(
        "chats",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("instance_id", BIG_ID, nullable=False),
        sa.Column("jid", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("unread", sa.Integer(), nullable=False),
        sa.Column("last_activity_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_message_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_message", sa.JSON(), nullable=True),
        sa.Column("archived", sa.Boolean(), nullable=False),
        sa.Column("pinned", sa.Boolean(), nullable=False),
        sa.Column("muted_until", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_chats_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chats")),
        sa.UniqueConstraint("instance_id", "jid", name="uq_chats_instance_jid"),
    )
    op.create_index("ix_chats_activity", "chats", ["instance_id", "last_activity_at", "id"])
    op.create_table(
        "contacts",
        sa.Column("instance_id", BIG_ID, nullable=False),
        sa.Column("jid", sa.String(length=128), nullable=False),
        sa.Column("push_name", sa.String(length=255), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["instance_id"],
            ["instances.id"],
            name=op.f("fk_contacts_instance_id_instances"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("instance_id", "jid", name=op.f("pk_contacts")),
    )


def upgrade() -> None:
    _chat_messages()
    _chats_and_contacts()
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_SEARCH)
        op.execute(PG_SEARCH_INDEX)
    else:
        for statement in SQLITE_SEARCH:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        for name in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS chat_messages_fts_{name}")
        op.execute("DROP TABLE IF EXISTS chat_messages_fts")
    op.drop_table("contacts")
    op.drop_table("chats")
    op.drop_table("chat_messages")
