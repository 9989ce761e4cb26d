"""The node registry: one row per node in `nodes`, kept fresh by a heartbeat.

The row says who the node is and when it was last seen; whether it is *live* is told by
Redis: the node's liveness key, renewed with its leases by the renewal thread (leases.py), so
that a killed node stops counting as soon as its leases are free, and a node with a busy event
loop (late heartbeats) still counts while its leases are renewed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from wagate.cluster import repository
from wagate.db import Database, utcnow
from wagate.models import Node

# Nodes silent for longer than this are no longer listed by GET /v1/cluster.
LIST_WINDOW = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class NodeView:
    id: str
    role: str
    address: str | None
    started_at: datetime
    last_seen_at: datetime
    stopped_at: datetime | None
    live: bool


class NodeRegistry:
    def __init__(
        self, db: Database, node_id: str, alive: Callable[[list[str]], Awaitable[set[str]]]
    ) -> None:
        self.db = db
        self.node_id = node_id
        # Which of these nodes renewed their liveness key within the lease TTL.
        self.alive = alive

    async def register(self, role: str, address: str) -> None:
        async with self.db.transaction() as session:
            await repository.register(session, self.node_id, role, address)

    async def heartbeat(self) -> None:
        async with self.db.transaction() as session:
            await repository.heartbeat(session, self.node_id)

    async def mark_stopped(self) -> None:
        """The node is draining or gone: the others stop counting it from now on."""
        now = utcnow()
        async with self.db.transaction() as session:
            await repository.mark_stopped(session, self.node_id, now)

    async def nodes(self, window: timedelta = LIST_WINDOW) -> list[NodeView]:
        now = utcnow()
        async with self.db.session() as session:
            rows: Sequence[Node] = await repository.nodes_seen_since(session, now - window)
        alive = await self.alive([row.id for row in rows if row.stopped_at is None])
        return [
            NodeView(
                id=row.id,
                role=row.role,
                address=row.address,
                started_at=row.started_at,
                last_seen_at=row.last_seen_at,
                stopped_at=row.stopped_at,
                live=row.stopped_at is None and row.id in alive,
            )
            for row in rows
        ]

    async def live_holders(self) -> list[NodeView]:
        """Live nodes that take instances (role `all`)."""
        return [n for n in await self.nodes() if n.live and n.role == "all"]
