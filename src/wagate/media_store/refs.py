"""Which stored objects are in use, and the sweep that deletes the others.

An object is kept while a row refers to its key: the columns in `REFERENCES` (a table that
keeps media keys adds its column there, and the sweep counts it). A writer claims the key
before it writes the bytes (`keep`), which marks the object touched; the sweep deletes only
objects that no row refers to and nobody touched for the grace, and marks each one `deleting`
while it removes it from the store, so that a writer never counts on bytes being deleted:
a writer that meets a mark waits for the sweep to finish, then writes the bytes again.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import and_, delete, exists, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.db import Database, utcnow
from wagate.media_store import MediaStore, media_key
from wagate.models import ChatMessage, MediaObject, ReceivedMedia

log = structlog.get_logger(__name__)

# Every column that refers to a stored object by key: an object none of them names is swept.
# Received media (kept for WAGATE_MEDIA_RETENTION_S) and the history's messages (kept for their
# instance's history_retention_days, until revoked or their instance is deleted): an object
# lives as long as the longer of the two, and goes with the last.
REFERENCES: tuple[Any, ...] = (ReceivedMedia.media_key, ChatMessage.media_key)
# How long a sweep's mark holds: a deletion that takes longer (a sweep that died) is taken
# back by a writer. A store call is bounded well below it (DELETE_TIMEOUT_S).
DELETING_LEASE_S = 120.0
DELETE_TIMEOUT_S = 30.0
CLAIM_WAIT_S = 0.2


class MediaBusy(Exception):
    """The object stayed marked for deletion longer than a sweep may take."""


async def _claim_once(session: AsyncSession, key: str, size: int, is_sqlite: bool) -> bool:
    now = utcnow()
    table = MediaObject
    touched = await session.execute(
        update(table).where(table.key == key, table.deleting_at.is_(None)).values(touched_at=now)
    )
    if touched.rowcount:  # type: ignore[attr-defined]
        return True
    insert = sqlite_insert if is_sqlite else pg_insert
    created = await session.execute(
        insert(table)
        .values(key=key, size=size, created_at=now, touched_at=now, deleting_at=None)
        .on_conflict_do_nothing()
    )
    if created.rowcount:  # type: ignore[attr-defined]
        return True
    # Marked for deletion: a mark past its lease is a sweep that died; take the row back.
    stale = now - timedelta(seconds=DELETING_LEASE_S)
    taken = await session.execute(
        update(table)
        .where(table.key == key, table.deleting_at < stale)
        .values(deleting_at=None, touched_at=now)
    )
    return bool(taken.rowcount)  # type: ignore[attr-defined]


async def claim(db: Database, key: str, size: int) -> None:
    """Before the bytes are written: the object's row exists, touched now, not being deleted."""
    waited = 0.0
    while True:
        async with db.transaction() as session:
            if await _claim_once(session, key, size, db.is_sqlite):
                return
        if waited > DELETING_LEASE_S:
            raise MediaBusy(key)
        await asyncio.sleep(CLAIM_WAIT_S)
        waited += CLAIM_WAIT_S


async def keep(db: Database, store: MediaStore, data: bytes) -> str:
    """Store the bytes once (by content) for a row about to refer to them; returns the key.
    The row must be written within the sweep's grace (it is written right after)."""
    key = media_key(data)
    await claim(db, key, len(data))
    stored = await store.put(data)
    assert stored == key
    return key


def _unreferenced(table: type[MediaObject]) -> Any:
    return and_(*(~exists().where(column == table.key) for column in REFERENCES))


async def _mark(db: Database, cutoff: datetime, limit: int) -> list[tuple[str, datetime]]:
    """Marks up to `limit` unreferenced objects untouched since `cutoff` (and the marks of a
    sweep that died) for deletion; returns them with their mark."""
    table = MediaObject
    now = utcnow()
    stale = now - timedelta(seconds=DELETING_LEASE_S)
    async with db.transaction() as session:
        keys = (
            await session.scalars(
                select(table.key)
                .where(
                    table.touched_at < cutoff,
                    (table.deleting_at.is_(None)) | (table.deleting_at < stale),
                    _unreferenced(table),
                )
                .limit(limit)
            )
        ).all()
        marked: list[tuple[str, datetime]] = []
        for key in keys:
            # Conditional: a writer that touched it since the select keeps it.
            done = await session.execute(
                update(table)
                .where(
                    table.key == key,
                    table.touched_at < cutoff,
                    (table.deleting_at.is_(None)) | (table.deleting_at < stale),
                    _unreferenced(table),
                )
                .values(deleting_at=now)
            )
            if done.rowcount:  # type: ignore[attr-defined]
                marked.append((key, now))
    return marked


async def sweep(db: Database, store: MediaStore, grace_s: float, limit: int = 500) -> int:
    """Delete up to `limit` objects no row refers to (untouched for `grace_s`); returns how
    many. One object whose deletion fails stays marked, and is tried again by a later sweep."""
    marked = await _mark(db, utcnow() - timedelta(seconds=grace_s), limit)
    deleted = 0
    for key, mark in marked:
        try:
            await asyncio.wait_for(store.delete(key), DELETE_TIMEOUT_S)
        except Exception as exc:
            log.warning("media object not deleted", key=key, error=str(exc))
            continue
        async with db.transaction() as session:
            await session.execute(
                delete(MediaObject).where(MediaObject.key == key, MediaObject.deleting_at == mark)
            )
        deleted += 1
    if deleted:
        log.info("media swept", deleted=deleted)
    return deleted
