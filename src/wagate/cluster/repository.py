"""Queries of the cluster: the nodes table, and what placement, forwarding and the cluster's
description read of the instances. Callers own the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.db import utcnow
from wagate.models import Instance, Node

# --- nodes -------------------------------------------------------------------------------------


async def heartbeat(session: AsyncSession, node_id: str) -> None:
    await session.execute(
        update(Node)
        .where(Node.id == node_id, Node.stopped_at.is_(None))
        .values(last_seen_at=utcnow())
    )


async def mark_stopped(session: AsyncSession, node_id: str, now: datetime) -> None:
    await session.execute(
        update(Node).where(Node.id == node_id).values(stopped_at=now, last_seen_at=now)
    )


async def nodes_seen_since(session: AsyncSession, since: datetime) -> Sequence[Node]:
    return (
        (await session.execute(select(Node).where(Node.last_seen_at >= since).order_by(Node.id)))
        .scalars()
        .all()
    )


# --- instances ---------------------------------------------------------------------------------


async def instance_id(session: AsyncSession, name: str) -> int | None:
    return await session.scalar(select(Instance.id).where(Instance.name == name))


async def instance_ids(session: AsyncSession) -> list[int]:
    return list((await session.execute(select(Instance.id))).scalars().all())


async def wanted(session: AsyncSession, engines: list[str]) -> dict[int, str]:
    """The id and name of each instance the user wants connected, on one of `engines`."""
    rows = await session.execute(
        select(Instance.id, Instance.name).where(
            Instance.desired_state == "connected", Instance.engine.in_(engines)
        )
    )
    return {iid: name for iid, name in rows.all()}


async def existing(session: AsyncSession, ids: list[int]) -> set[int]:
    """Those of `ids` that are still instances."""
    rows = await session.execute(select(Instance.id).where(Instance.id.in_(ids)))
    return {iid for (iid,) in rows.all()}


async def names_on_node(session: AsyncSession, node_id: str) -> list[str]:
    names = (
        await session.execute(
            select(Instance.name).where(Instance.node == node_id).order_by(Instance.id)
        )
    ).scalars()
    return list(names)


async def instances_wanted(session: AsyncSession) -> Sequence[Row[int, str, str]]:
    """The id, name and desired state of every instance."""
    return (await session.execute(select(Instance.id, Instance.name, Instance.desired_state))).all()
