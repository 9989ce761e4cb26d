"""Starting the cluster part of a node, and what GET /v1/cluster shows.

Without WAGATE_REDIS_URL the node is alone (`SingleNode`): it owns every instance and the
lifespan resumes them itself. With it, `ClusterNode` takes over ownership (runtime.py).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict
from datetime import datetime
from typing import Protocol

import redis
from redis.asyncio import Redis

from wagate.cluster import repository
from wagate.config import Settings
from wagate.db import utcnow
from wagate.events.bus import EventBus
from wagate.node import HasBus, HasDb, HasManager, HasSettings
from wagate.queue.redis_streams import REDIS_MAX_CONNECTIONS
from wagate.redis_info import DRIVER_INFO

from .events import EventRelay
from .runtime import ClusterNode
from .schemas import ClusterOut, NodeOut

CLUSTER_COMMAND_TIMEOUT_S = 5.0


class ClusterStartNode(HasBus, HasDb, HasManager, HasSettings, Protocol):
    """What starting the cluster part of a node uses of the node."""


class SingleNode:
    """The one process owns everything; nothing to coordinate."""

    mode = "single"

    def __init__(self, state: ClusterStartNode) -> None:
        self.state = state
        self.node_id = state.settings.node_id
        self.started_at = utcnow()

    async def stop(self) -> None:
        return None

    async def describe(self) -> ClusterOut:
        settings = self.state.settings
        async with self.state.db.session() as session:
            held = await repository.names_on_node(session, self.node_id)
        now = utcnow()
        node = NodeOut(
            id=self.node_id,
            role=settings.role,
            address=settings.node_address,
            live=True,
            started_at=self.started_at,
            last_seen_at=now,
            stopped_at=None,
            instances=held,
        )
        return ClusterOut(mode="single", node=self.node_id, nodes=[node], unheld=[])


Cluster = SingleNode | ClusterNode


class HasCluster(Protocol):
    """The node's part of instance ownership; None while the node starts. A piece of the
    node's description (wagate.node) that only the runtime layer uses."""

    @property
    def cluster(self) -> Cluster | None: ...


def redis_client(url: str, timeout_s: float | None) -> Redis:
    # Every event is PUBLISHed from the task that raised it: hundreds of instances at once
    # outgrow redis-py's default pool of 100 connections.
    return Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s or 5,
        max_connections=REDIS_MAX_CONNECTIONS,
        driver_info=DRIVER_INFO,
    )


def renewal_client(url: str, ttl_s: float) -> redis.Redis:
    """The lease renewer's own synchronous connection (renewer.py). A call that hangs is cut
    well inside the stop margin, so the next round can still renew in time."""
    timeout = max(0.1, ttl_s / 4)
    return redis.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, driver_info=DRIVER_INFO
    )


def build_relay(settings: Settings, bus: EventBus) -> EventRelay | None:
    """The bus's bridge to the other nodes, with Redis (None on a single node): the app
    registers it on the bus, which starts it before the node serves."""
    if not settings.redis_url:
        return None
    # The pub/sub connection waits forever.
    return EventRelay(
        redis_client(settings.redis_url, None), bus, settings.node_id, settings.cluster_key_prefix
    )


async def start_cluster(state: ClusterStartNode, relay: EventRelay | None) -> Cluster:
    settings = state.settings
    if relay is None or not settings.redis_url:
        return SingleNode(state)
    # Leases are renewed on a connection of their own (renewal_client); these commands (taking
    # and giving back leases, looking up holders) only need a bound on a Redis that hangs.
    timeout = max(CLUSTER_COMMAND_TIMEOUT_S, settings.lease_ttl_s / 2)
    node = ClusterNode(
        settings,
        state.db,
        state.manager,
        redis_client(settings.redis_url, timeout),
        renewal_client(settings.redis_url, settings.lease_ttl_s),
    )
    await node.start(relay)
    return node


async def describe(state: HasDb, cluster: Cluster) -> ClusterOut:
    if isinstance(cluster, SingleNode):
        return await cluster.describe()
    holders = await cluster.lease_holders()
    async with state.db.session() as session:
        rows = await repository.instances_wanted(session)
    names = {iid: name for iid, name, _ in rows}
    held: dict[str, list[str]] = defaultdict(list)
    for iid in sorted(holders, key=lambda i: names.get(i, "")):
        if iid in names:
            held[holders[iid].node].append(names[iid])
    unheld = sorted(
        name for iid, name, desired in rows if desired == "connected" and iid not in holders
    )
    views = await cluster.registry.nodes()
    nodes = [NodeOut(**asdict(view), instances=held.pop(view.id, [])) for view in views]
    # A holder missing from the table (its row is older than the listing window) still shows.
    epoch = datetime.fromtimestamp(0).astimezone()
    nodes += [
        NodeOut(
            id=node,
            role="all",
            address=None,
            live=False,
            started_at=epoch,
            last_seen_at=epoch,
            stopped_at=None,
            instances=instances,
        )
        for node, instances in sorted(held.items())
    ]
    return ClusterOut(mode="cluster", node=cluster.node_id, nodes=nodes, unheld=unheld)
