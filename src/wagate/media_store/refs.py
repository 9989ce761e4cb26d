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

import structlog

from wagate.db import Database, utcnow
from wagate.media_store import MediaStore, media_key, repository

log = structlog.get_logger(__name__)

# How long a sweep's mark holds: a deletion that takes longer (a sweep that died) is taken
# back by a writer. A store call is bounded well below it (DELETE_TIMEOUT_S).
DELETING_LEASE_S = 120.0
DELETE_TIMEOUT_S = 30.0
CLAIM_WAIT_S = 0.2


class MediaBusy(Exception):
    """The object stayed marked for deletion longer than a sweep may take."""


async def claim(db: Database, key: str, size: int) -> None:
    """Before the bytes are written: the object's row exists, touched now, not being deleted."""
    waited = 0.0
    while True:
        async with db.transaction() as session:
            if await repository.claim_once(session, key, size, db.is_sqlite, DELETING_LEASE_S):
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


async def _mark(db: Database, cutoff: datetime, limit: int) -> list[tuple[str, datetime]]:
    """Marks up to `limit` unreferenced objects untouched since `cutoff` (and the marks of a
    sweep that died) for deletion; returns them with their mark."""
    now = utcnow()
    stale = now - timedelta(seconds=DELETING_LEASE_S)
    async with db.transaction() as session:
        keys = await repository.sweepable(session, cutoff, stale, limit)
        marked: list[tuple[str, datetime]] = []
        for key in keys:
            # Conditional: a writer that touched it since the select keeps it.
            if await repository.mark_deleting(session, key, cutoff, stale, now):
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
            await repository.forget(session, key, mark)
        deleted += 1
    if deleted:
        log.info("media swept", deleted=deleted)
    return deleted
