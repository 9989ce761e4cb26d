"""Queries on the instances table. Callers own the transaction."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Table, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.db import utcnow
from wagate.instances.schemas import NAME_PATTERN
from wagate.models import Instance

_NAME = re.compile(NAME_PATTERN)


async def get_by_name(session: AsyncSession, name: str) -> Instance | None:
    # A name that could never have been created is not looked up: it cannot exist, and
    # PostgreSQL refuses some strings outright (a NUL byte), which must stay a 404.
    if not _NAME.fullmatch(name):
        return None
    result = await session.execute(select(Instance).where(Instance.name == name))
    return result.scalar_one_or_none()


async def list_all(session: AsyncSession, name: str | None = None) -> Sequence[Instance]:
    query = select(Instance).order_by(Instance.id)
    if name is not None:
        query = query.where(Instance.name == name)
    return (await session.execute(query)).scalars().all()


async def to_resume(session: AsyncSession) -> Sequence[Instance]:
    """Instances the user wants connected: reconnected when a node starts."""
    query = select(Instance).where(Instance.desired_state == "connected").order_by(Instance.id)
    return (await session.execute(query)).scalars().all()


INSTANCES = cast(Table, Instance.__table__)  # Core statements on it skip the ORM's bulk-update path


async def update_fields(session: AsyncSession, instance_id: int, **fields: Any) -> None:
    fields.setdefault("updated_at", utcnow())
    await session.execute(update(INSTANCES).where(INSTANCES.c.id == instance_id).values(**fields))


async def delete_by_id(session: AsyncSession, instance_id: int) -> None:
    await session.execute(delete(Instance).where(Instance.id == instance_id))
