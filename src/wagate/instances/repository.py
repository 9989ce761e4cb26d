"""Queries on the instances table. Callers own the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.models import Instance

# Declared in core: the client manager below this feature needs them too.
from wagate.repository.instances import INSTANCES as INSTANCES
from wagate.repository.instances import delete_by_id as delete_by_id
from wagate.repository.instances import get_by_name as get_by_name
from wagate.repository.instances import to_resume as to_resume
from wagate.repository.instances import update_fields as update_fields


async def add(session: AsyncSession, row: Instance) -> None:
    """A new instance; a taken name fails with IntegrityError when the transaction writes it."""
    session.add(row)


@dataclass(frozen=True, slots=True)
class InstancePage:
    """Which instances a page of the list shows: oldest first, strictly after the id `after`."""

    limit: int
    after: int = 0
    status: str | None = None
    name: str | None = None  # an instance token sees only its own


def page_query(page: InstancePage) -> Select[Instance]:
    """One more row than the page holds (whether a next page exists, without counting).
    A keyset range on the primary key, or on ix_instances_status_id with a status: no scan
    of the table however many instances it holds, and rows created or deleted meanwhile
    neither shift a page nor show twice."""
    query = select(Instance).where(Instance.id > page.after)
    if page.status is not None:
        query = query.where(Instance.status == page.status)
    if page.name is not None:
        query = query.where(Instance.name == page.name)
    return query.order_by(Instance.id).limit(page.limit + 1)


async def list_page(session: AsyncSession, page: InstancePage) -> Sequence[Instance]:
    return (await session.execute(page_query(page))).scalars().all()
