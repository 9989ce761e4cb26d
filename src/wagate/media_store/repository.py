"""Queries on media_objects, the stored objects and what refers to them. Callers own the
transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.db import utcnow
from wagate.models import ChatMessage, MediaObject, ReceivedMedia

# Every column that refers to a stored object by key: an object none of them names is swept.
# Received media (kept for WAGATE_MEDIA_RETENTION_S) and the history's messages (kept for their
# instance's history_retention_days, until revoked or their instance is deleted): an object
# lives as long as the longer of the two, and goes with the last.
REFERENCES: tuple[Any, ...] = (ReceivedMedia.media_key, ChatMessage.media_key)


async def claim_once(
    session: AsyncSession, key: str, size: int, is_sqlite: bool, lease_s: float
) -> bool:
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
    stale = now - timedelta(seconds=lease_s)
    taken = await session.execute(
        update(table)
        .where(table.key == key, table.deleting_at < stale)
        .values(deleting_at=None, touched_at=now)
    )
    return bool(taken.rowcount)  # type: ignore[attr-defined]


def _unreferenced(table: type[MediaObject]) -> Any:
    return and_(*(~exists().where(column == table.key) for column in REFERENCES))


def _sweepable(cutoff: datetime, stale: datetime) -> tuple[Any, ...]:
    """Untouched since `cutoff`, not marked (or marked before `stale`), and unreferenced."""
    table = MediaObject
    return (
        table.touched_at < cutoff,
        (table.deleting_at.is_(None)) | (table.deleting_at < stale),
        _unreferenced(table),
    )


async def sweepable(
    session: AsyncSession, cutoff: datetime, stale: datetime, limit: int
) -> Sequence[str]:
    return (
        await session.scalars(
            select(MediaObject.key).where(*_sweepable(cutoff, stale)).limit(limit)
        )
    ).all()


async def mark_deleting(
    session: AsyncSession, key: str, cutoff: datetime, stale: datetime, now: datetime
) -> bool:
    """Marks the object for deletion if it is still sweepable: a writer that touched it since
    it was listed keeps it."""
    done = await session.execute(
        update(MediaObject)
        .where(MediaObject.key == key, *_sweepable(cutoff, stale))
        .values(deleting_at=now)
    )
    return bool(done.rowcount)  # type: ignore[attr-defined]


async def forget(session: AsyncSession, key: str, mark: datetime) -> None:
    """The object's row, deleted with its bytes (unless a writer took it back since)."""
    await session.execute(
        delete(MediaObject).where(MediaObject.key == key, MediaObject.deleting_at == mark)
    )
