"""The media store's bookkeeping on both databases (wagate.media_store.refs): a writer never
counts on bytes a sweep is deleting, and a sweep never deletes bytes a writer has claimed."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from wagate.db import Database, utcnow
from wagate.media_store import media_key
from wagate.media_store.local import LocalMediaStore
from wagate.media_store.refs import DELETING_LEASE_S, claim, keep, sweep
from wagate.models import MediaObject


@pytest.fixture
async def store(tmp_path: Path) -> LocalMediaStore:
    media = LocalMediaStore(tmp_path / "media")
    await media.start()
    return media


async def row(db: Database, key: str) -> MediaObject | None:
    async with db.session() as session:
        found: MediaObject | None = await session.scalar(
            select(MediaObject).where(MediaObject.key == key)
        )
        return found


async def set_row(db: Database, key: str, **values: object) -> None:
    async with db.transaction() as session:
        await session.execute(update(MediaObject).where(MediaObject.key == key).values(**values))


async def test_a_claim_waits_for_a_deletion_in_progress(
    db: Database, store: LocalMediaStore
) -> None:
    data = b"arrives while it is being swept"
    key = await keep(db, store, data)
    # A sweep has marked it and is deleting the bytes.
    await set_row(db, key, deleting_at=utcnow(), touched_at=utcnow() - timedelta(hours=2))
    writer = asyncio.create_task(keep(db, store, data))
    await asyncio.sleep(0.5)
    assert not writer.done()  # it does not count on the bytes being deleted
    await store.delete(key)
    async with db.transaction() as session:  # the sweep finishes: its row goes
        found = await session.get(MediaObject, key)
        assert found is not None
        await session.delete(found)
    assert await asyncio.wait_for(writer, 10) == key
    assert await store.exists(key)  # written again
    again = await row(db, key)
    assert again is not None and again.deleting_at is None


async def test_a_stale_mark_is_taken_back(db: Database, store: LocalMediaStore) -> None:
    key = await keep(db, store, b"a sweep died while deleting it")
    past = utcnow() - timedelta(seconds=DELETING_LEASE_S + 5)
    await set_row(db, key, deleting_at=past, touched_at=past)
    await asyncio.wait_for(claim(db, key, 1), 5)
    taken = await row(db, key)
    assert taken is not None and taken.deleting_at is None
    assert taken.touched_at > past


async def test_a_touched_object_is_not_swept(db: Database, store: LocalMediaStore) -> None:
    key = await keep(db, store, b"claimed, its row not written yet")
    assert await sweep(db, store, grace_s=60) == 0
    assert await store.exists(key)
    await set_row(db, key, touched_at=utcnow() - timedelta(seconds=120))
    assert await sweep(db, store, grace_s=60) == 1
    assert not await store.exists(key)
    assert await row(db, key) is None
    assert media_key(b"claimed, its row not written yet") == key
