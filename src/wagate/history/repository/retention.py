"""The retention's queries: each instance's settings, and its messages past their time.
Callers own the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.history.repository.store import CHAT_MESSAGES
from wagate.models import Instance


async def instance_settings(session: AsyncSession) -> Sequence[Row[int, dict[str, Any] | None]]:
    """The id and settings of every instance."""
    found = await session.execute(select(Instance.id, Instance.settings))
    return found.all()


async def delete_due(
    session: AsyncSession, instance_id: int, cutoff: datetime, keep_own: bool, limit: int
) -> int:
    """Deletes up to `limit` of the instance's messages older than `cutoff` (with `keep_own`,
    not the ones wagate sent itself); how many it deleted."""
    table = CHAT_MESSAGES.c
    due = select(table.id).where(table.instance_id == instance_id, table.timestamp < cutoff)
    if keep_own:
        due = due.where(table.correlation_id.is_(None))
    pks = list((await session.execute(due.limit(limit))).scalars())
    if pks:
        await session.execute(delete(CHAT_MESSAGES).where(table.id.in_(pks)))
    return len(pks)
