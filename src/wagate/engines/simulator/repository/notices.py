"""Queries on the group notices that one node's simulated network leaves for another's (the
relay). Callers own the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.db import any_of
from wagate.models import SimulatorConnection, SimulatorDevice, SimulatorGroupNotice


async def connected_elsewhere(
    session: AsyncSession, node: str, recipients: set[str]
) -> list[tuple[int, str]]:
    """The instance and node of each device of `recipients` connected to a node but `node`."""
    result = await session.execute(
        select(SimulatorConnection.instance_id, SimulatorConnection.node)
        .join(
            SimulatorDevice,
            SimulatorDevice.instance_id == SimulatorConnection.instance_id,
        )
        .where(
            SimulatorConnection.disconnected_at.is_(None),
            SimulatorConnection.node != node,
            any_of(SimulatorDevice.jid, sorted(recipients)),
        )
    )
    return sorted({(row.instance_id, row.node) for row in result})


async def add(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    await session.execute(insert(SimulatorGroupNotice), rows)


async def sweep(session: AsyncSession, cutoff: datetime) -> None:
    await session.execute(
        delete(SimulatorGroupNotice).where(SimulatorGroupNotice.created_at < cutoff)
    )


async def take(
    session: AsyncSession, node: str, limit: int
) -> Sequence[Row[int, int, dict[str, Any]]]:
    """Up to `limit` notices addressed to `node`, oldest first, deleted as they are taken."""
    result = await session.execute(
        select(
            SimulatorGroupNotice.id,
            SimulatorGroupNotice.instance_id,
            SimulatorGroupNotice.event,
        )
        .where(SimulatorGroupNotice.node == node)
        .order_by(SimulatorGroupNotice.id)
        .limit(limit)
    )
    rows = result.all()
    if rows:
        await session.execute(
            delete(SimulatorGroupNotice).where(
                any_of(SimulatorGroupNotice.id, [row_id for row_id, _, _ in rows])
            )
        )
    return rows
