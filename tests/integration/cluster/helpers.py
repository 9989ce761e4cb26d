"""Checks shared by the in-process and the multi-process cluster tests."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import select

from wagate.db import Database, utcnow
from wagate.models import Instance, SimulatorConnection


async def overlapping_connections(
    db: Database, died: dict[str, datetime] | None = None
) -> list[str]:
    """Every pair of simulator connections of one instance that were open at the same time.

    A connection still open belongs to a live node (open until now) or to a node killed at a
    known moment (`died`: its process, and so its connection, ended then).
    """
    died = died or {}
    now = utcnow()
    async with db.session() as session:
        rows = (
            await session.execute(
                select(
                    Instance.name,
                    SimulatorConnection.node,
                    SimulatorConnection.connected_at,
                    SimulatorConnection.disconnected_at,
                ).join(Instance, Instance.id == SimulatorConnection.instance_id)
            )
        ).all()
    spans: dict[str, list[tuple[datetime, datetime, str]]] = defaultdict(list)
    for name, node, start, end in rows:
        spans[name].append((start, end or died.get(node, now), node))
    found = []
    for name, items in spans.items():
        items.sort()
        # Compare each connection with the one that ends last among those opened before it.
        latest = items[0]
        for item in items[1:]:
            if item[0] < latest[1]:
                found.append(f"{name}: {latest[2]} {latest[:2]} overlaps {item[2]} {item[:2]}")
            if item[1] > latest[1]:
                latest = item
    return found


async def connection_count(db: Database) -> int:
    async with db.session() as session:
        return len((await session.execute(select(SimulatorConnection.id))).all())
