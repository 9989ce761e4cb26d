"""media_objects and received_media.media_key: received media moves to the media store

Revision ID: 0008_mediastore
Revises: 0002
Create Date: 2026-12-04 22:30:00

The bytes of the received_media rows move into the media store configured at upgrade time
(the local directory, or S3), in batches, and the data column goes. Moving them now rather than
on first read: the column can go at once (a lazy move would keep it, and every row's bytes in
the database, until each row was read or expired), and the rows are few (they expire after
WAGATE_MEDIA_RETENTION_S, a day by default). The expired ones are dropped, not moved.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import sqlalchemy as sa
from alembic import context, op

from wagate.config import Settings
from wagate.db import UtcDateTime, utcnow
from wagate.media_store import MediaStore, media_key, read_all
from wagate.media_store.build import build_media_store

revision = "0008_mediastore"
down_revision = "0005_account"
branch_labels = None
depends_on = None

BATCH = 50
T = TypeVar("T")
# The tables as this revision knows them (not the models, which follow later revisions).
OBJECTS = sa.table(
    "media_objects",
    sa.column("key", sa.String()),
    sa.column("size", sa.BigInteger()),
    sa.column("created_at", UtcDateTime()),
    sa.column("touched_at", UtcDateTime()),
)
RECEIVED = sa.table(
    "received_media",
    sa.column("id", sa.BigInteger()),
    sa.column("media_key", sa.String()),
    sa.column("data", sa.LargeBinary()),
    sa.column("expires_at", UtcDateTime()),
)


class _Store:
    """The (async) media store, driven from the migration's synchronous code: its own event
    loop in a thread of its own (the migration already runs inside the app's loop)."""

    def __init__(self, settings: Settings) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.store: MediaStore = build_media_store(settings)
        self.run(self.store.start())

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result()

    def close(self) -> None:
        try:
            self.run(self.store.close())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join()
            self.loop.close()


def _settings() -> Settings:
    given = context.config.attributes.get("settings")
    return given if isinstance(given, Settings) else Settings()


def _move(bind: sa.Connection) -> None:
    store: _Store | None = None
    try:
        while True:
            rows = bind.execute(
                sa.select(RECEIVED.c.id, RECEIVED.c.data)
                .where(RECEIVED.c.media_key.is_(None))
                .order_by(RECEIVED.c.id)
                .limit(BATCH)
            ).all()
            if not rows:
                return
            if store is None:  # built only when there is something to move
                store = _Store(_settings())
            for row in rows:
                data = bytes(row.data)
                key = store.run(store.store.put(data))
                assert key == media_key(data)
                _refer(bind, row.id, key, len(data))
    finally:
        if store is not None:
            store.close()


def _refer(bind: sa.Connection, row_id: int, key: str, size: int) -> None:
    now = utcnow()
    known = bind.scalar(sa.select(OBJECTS.c.key).where(OBJECTS.c.key == key))
    if known is None:
        bind.execute(sa.insert(OBJECTS).values(key=key, size=size, created_at=now, touched_at=now))
    bind.execute(sa.update(RECEIVED).where(RECEIVED.c.id == row_id).values(media_key=key))


def upgrade() -> None:
    op.create_table(
        "media_objects",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("touched_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleting_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_media_objects")),
    )
    with op.batch_alter_table("media_objects") as batch:
        batch.create_index(batch.f("ix_media_objects_touched_at"), ["touched_at"], unique=False)
    with op.batch_alter_table("received_media") as batch:
        batch.add_column(sa.Column("media_key", sa.String(length=64), nullable=True))
    bind = op.get_bind()
    bind.execute(sa.delete(RECEIVED).where(RECEIVED.c.expires_at < utcnow()))
    _move(bind)
    with op.batch_alter_table("received_media") as batch:
        batch.drop_column("data")
        batch.alter_column("media_key", existing_type=sa.String(length=64), nullable=False)
        batch.create_index(batch.f("ix_received_media_media_key"), ["media_key"], unique=False)


def _move_back(bind: sa.Connection) -> None:
    rows = bind.execute(
        sa.select(RECEIVED.c.id, RECEIVED.c.media_key).order_by(RECEIVED.c.id)
    ).all()
    if not rows:
        return
    store = _Store(_settings())
    try:
        for row in rows:
            data = store.run(read_all(store.store, row.media_key))
            bind.execute(sa.update(RECEIVED).where(RECEIVED.c.id == row.id).values(data=data))
    finally:
        store.close()


def downgrade() -> None:
    with op.batch_alter_table("received_media") as batch:
        batch.add_column(sa.Column("data", sa.LargeBinary(), nullable=True))
    bind = op.get_bind()
    _move_back(bind)
    with op.batch_alter_table("received_media") as batch:
        batch.drop_index(batch.f("ix_received_media_media_key"))
        batch.drop_column("media_key")
        batch.alter_column("data", existing_type=sa.LargeBinary(), nullable=False)
    op.drop_table("media_objects")
