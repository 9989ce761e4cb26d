"""Queries on the simulated devices and their connections to the network. Callers own the
transaction."""

from __future__ import annotations

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.db import utcnow
from wagate.models import SimulatorConnection, SimulatorDevice


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


async def close_others(session: AsyncSession, instance_id: int, node: str) -> None:
    """Closes the instance's connections that another node left open."""
    await session.execute(
        update(SimulatorConnection)
        .where(
            SimulatorConnection.instance_id == instance_id,
            SimulatorConnection.node != node,
            SimulatorConnection.disconnected_at.is_(None),
        )
        .values(disconnected_at=utcnow())
    )


async def close(session: AsyncSession, connection_id: int) -> None:
    await session.execute(
        update(SimulatorConnection)
        .where(SimulatorConnection.id == connection_id)
        .values(disconnected_at=utcnow())
    )


async def forget_device(session: AsyncSession, instance_id: int) -> None:
    await session.execute(delete(SimulatorDevice).where(SimulatorDevice.instance_id == instance_id))
