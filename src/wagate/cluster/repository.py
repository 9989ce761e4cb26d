"""Queries of the cluster: the nodes table, and what placement, forwarding and the cluster's
description read of the instances. Callers own the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.db import utcnow
from wagate.models import Instance, Node
from wagate.repository.instances import INSTANCES

# --- nodes -------------------------------------------------------------------------------------


async def register(session: AsyncSession, node_id: str, role: str, address: str) -> None:
    """The node's row as it starts: a restarted node takes its old row over."""
    now = utcnow()
    fresh = {"started_at": now, "last_seen_at": now, "stopped_at": None}
    await session.merge(Node(id=node_id, role=role, address=address, **fresh))


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


async def wanted(
    session: AsyncSession, engines: list[str]
) -> tuple[dict[int, str], dict[int, int]]:
    """The id and name of each instance the user wants connected, on one of `engines`, and
    the fencing token stored in each row (0: none yet)."""
    rows = await session.execute(
        select(Instance.id, Instance.name, Instance.fencing_token).where(
            Instance.desired_state == "connected", Instance.engine.in_(engines)
        )
    )
    found = rows.all()
    return {iid: name for iid, name, _ in found}, {iid: token or 0 for iid, _, token in found}


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


# --- fencing -----------------------------------------------------------------------------------


async def write_fenced(
    session: AsyncSession, instance_id: int, token: int, fields: dict[str, Any]
) -> bool:
    """Writes `fields` to the instance row if its fencing token is still `token`."""
    # A Core statement on the table: the ORM's bulk-update path (session sync, attribute
    # lookup) cost more than the write itself, twice per connect (bench `scale`).
    table = INSTANCES
    result: Any = await session.execute(
        update(table)
        .where(table.c.id == instance_id, table.c.fencing_token == token)
        .values(**fields)
    )
    return bool(result.rowcount == 1)


async def fencing_token(session: AsyncSession, instance_id: int) -> int | None:
    return await session.scalar(select(Instance.fencing_token).where(Instance.id == instance_id))


async def raise_fencing_token(session: AsyncSession, instance_id: int, token: int) -> bool:
    """Writes `token` to the instance row unless it holds a larger one; False: no such row."""
    result: Any = await session.execute(
        update(Instance)
        .where(
            Instance.id == instance_id,
            or_(Instance.fencing_token.is_(None), Instance.fencing_token < token),
        )
        .values(fencing_token=token)
    )
    return bool(result.rowcount == 1)
