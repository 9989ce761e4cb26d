"""Queries on the simulated devices and their connections to the network. Callers own the
transaction."""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.db import any_of, utcnow
from wagate.models import SimulatorConnection, SimulatorDevice


async def link_device(session: AsyncSession, instance_id: int, jid: str, phone: str) -> None:
    """The account's device as its phone linked it: a new link takes the old one's row over."""
    await session.merge(SimulatorDevice(instance_id=instance_id, jid=jid, phone=phone))


async def close_node_connections(session: AsyncSession, node: str) -> None:
    """Closes the connections this node left open."""
    await session.execute(
        update(SimulatorConnection)
        .where(
            SimulatorConnection.node == node,
            SimulatorConnection.disconnected_at.is_(None),
        )
        .values(disconnected_at=utcnow())
    )


async def forget_device(session: AsyncSession, instance_id: int) -> None:
    await session.execute(delete(SimulatorDevice).where(SimulatorDevice.instance_id == instance_id))


async def open_many(session: AsyncSession, instance_ids: list[int], node: str) -> list[int]:
    """A new connection row for each instance on `node` (their ids, in order), after closing
    the ones another node left open."""
    await session.execute(
        update(SimulatorConnection)
        .where(
            any_of(SimulatorConnection.instance_id, instance_ids),
            SimulatorConnection.node != node,
            SimulatorConnection.disconnected_at.is_(None),
        )
        .values(disconnected_at=utcnow())
    )
    rows = [SimulatorConnection(instance_id=i, node=node) for i in instance_ids]
    session.add_all(rows)
    await session.flush()
    return [row.id for row in rows]


async def devices_of(session: AsyncSession, instance_ids: list[int]) -> dict[int, tuple[str, str]]:
    """The linked devices (JID, phone) of those instances that have one."""
    rows = await session.execute(
        select(SimulatorDevice.instance_id, SimulatorDevice.jid, SimulatorDevice.phone).where(
            any_of(SimulatorDevice.instance_id, instance_ids)
        )
    )
    return {instance_id: (jid, phone) for instance_id, jid, phone in rows}


async def close_many(session: AsyncSession, connection_ids: list[int]) -> None:
    await session.execute(
        update(SimulatorConnection)
        .where(any_of(SimulatorConnection.id, connection_ids))
        .values(disconnected_at=utcnow())
    )
