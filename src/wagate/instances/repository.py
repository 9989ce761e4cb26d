"""Queries on the instances table. Callers own the transaction."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.models import Instance

# Declared in core: the client manager below this feature needs them too.
from wagate.repository.instances import INSTANCES as INSTANCES
from wagate.repository.instances import delete_by_id as delete_by_id
from wagate.repository.instances import get_by_name as get_by_name
from wagate.repository.instances import to_resume as to_resume
from wagate.repository.instances import update_fields as update_fields


async def list_all(session: AsyncSession, name: str | None = None) -> Sequence[Instance]:
    query = select(Instance).order_by(Instance.id)
    if name is not None:
        query = query.where(Instance.name == name)
    return (await session.execute(query)).scalars().all()
