"""Three real nodes, 30 simulator instances: fair spread, SIGKILL failover, SIGTERM handover,
a node joining; never an instance connected on two nodes at once."""

from __future__ import annotations

import asyncio
import math
import signal
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.integration.cluster.helpers import overlapping_connections
from tests.support.polling import eventually
from wagate.db import Database, utcnow
from wagate.models import Instance, SimulatorConnection

from .cluster_support import Cluster, NodeProcess, link, running_cluster

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis]
INSTANCES = 30


@pytest.fixture
async def cluster(postgres_url: str, tmp_path: Path) -> AsyncIterator[Cluster]:
    async with running_cluster(postgres_url, tmp_path) as nodes:
        yield nodes


async def holdings(node: NodeProcess) -> tuple[dict[str, set[str]], list[str]]:
    body = (await node.http.get("/v1/cluster")).json()
    live = {n["id"]: set(n["instances"]) for n in body["nodes"] if n["live"]}
    return live, body["unheld"]


async def statuses(node: NodeProcess) -> dict[str, str]:
    body = (await node.http.get("/v1/instances")).json()
    return {i["name"]: i["status"] for i in body["instances"]}


async def spread_is_fair(node: NodeProcess, names: list[str], expect_nodes: set[str]) -> bool:
    live, unheld = await holdings(node)
    share = math.ceil(len(names) / len(expect_nodes))
    states = await statuses(node)
    return (
        not unheld
        and set(live) == expect_nodes
        and all(len(held) == share for held in live.values())
        and all(states[name] == "connected" for name in names)
    )


async def first_reconnects(
    db: Database, names: set[str], since: datetime, not_on: str
) -> list[float]:
    """Seconds from `since` to each new connection of these instances on another node."""
    async with db.session() as session:
        rows = await session.execute(
            select(Instance.name, SimulatorConnection.connected_at)
            .join(Instance, Instance.id == SimulatorConnection.instance_id)
            .where(SimulatorConnection.node != not_on, SimulatorConnection.connected_at > since)
        )
        seen: dict[str, datetime] = {}
        for name, at in rows.all():
            if name in names and (name not in seen or at < seen[name]):
                seen[name] = at
    return sorted((at - since).total_seconds() for at in seen.values())


async def devices(db: Database) -> dict[str, str | None]:
    async with db.session() as session:
        rows = await session.execute(select(Instance.name, Instance.jid))
        return dict(rows.all())


async def test_three_nodes_failover_handover_and_join(cluster: Cluster, db: Database) -> None:
    nodes = [await cluster.start(f"n{i}") for i in range(3)]
    ids = {n.node_id for n in nodes}

    # 30 instances, each linked through a different node's API (scans reach the holder).
    gate = asyncio.Semaphore(10)

    async def link_one(i: int) -> str:
        async with gate:
            await link(nodes[i % 3].http, f"sim-{i:02d}")
            return f"sim-{i:02d}"

    names = list(await asyncio.gather(*(link_one(i) for i in range(INSTANCES))))
    started = time.monotonic()
    await eventually(
        lambda: spread_is_fair(nodes[0], names, ids), timeout=30, what="10 on each node"
    )
    took = time.monotonic() - started
    print(f"\n30 instances spread 10/10/10 over 3 nodes ({took:.1f} s after linking)")
    linked = await devices(db)
    assert all(linked[name] for name in names)

    # SIGKILL: the others take its instances once the leases expire, without a new scan.
    victim, survivors = nodes[0], nodes[1:]
    victim_held = (await holdings(survivors[0]))[0][victim.node_id]
    killed_at = utcnow()
    victim.kill()
    left = {n.node_id for n in survivors}
    started = time.monotonic()
    await eventually(
        lambda: spread_is_fair(survivors[0], names, left), timeout=60, what="15 on each survivor"
    )
    recovered = time.monotonic() - started

    async def all_reconnected() -> list[float] | None:
        # The status rows of a killed node's instances still say "connected" until a survivor
        # writes its own: the fair spread can be seen a moment before the last reconnect.
        found = await first_reconnects(db, victim_held, killed_at, victim.node_id)
        return found if len(found) == len(victim_held) else None

    delays = await eventually(
        all_reconnected, timeout=30, what="every instance of the killed node reconnected"
    )
    assert len(delays) == len(victim_held)
    print(
        f"SIGKILL {victim.node_id}: first taken-over instance connected {delays[0]:.2f} s after"
        f" the kill, all {len(delays)} by {delays[-1]:.2f} s; spread 15/15 by {recovered:.1f} s"
        " (lease TTL 2 s)"
    )
    assert delays[0] >= 1.5  # not before the dead node's lease could expire
    assert await devices(db) == linked  # resumed from the stored device: no new link
    died = {victim.node_id: killed_at}
    assert await overlapping_connections(db, died) == []

    # SIGTERM: a clean handover, every client stopped before another node connects it.
    leaving, staying = survivors
    leaving_held = (await holdings(staying))[0][leaving.node_id]
    stopped_at = utcnow()
    # uvicorn shuts down gracefully, then re-raises the signal: -SIGTERM is a clean exit.
    assert leaving.terminate() in (0, -signal.SIGTERM)
    await eventually(
        lambda: spread_is_fair(staying, names, {staying.node_id}), timeout=60, what="all on one"
    )
    handover = await first_reconnects(db, leaving_held, stopped_at, leaving.node_id)
    print(
        f"SIGTERM {leaving.node_id}: its {len(handover)} instances reconnected on"
        f" {staying.node_id} within {handover[0]:.2f}..{handover[-1]:.2f} s"
    )
    async with db.session() as session:
        open_rows = await session.execute(
            select(SimulatorConnection.id).where(
                SimulatorConnection.node == leaving.node_id,
                SimulatorConnection.disconnected_at.is_(None),
            )
        )
        assert open_rows.all() == []  # it closed every connection it had
    assert await overlapping_connections(db, died) == []

    # A new node takes its share from the one that holds everything.
    joining = await cluster.start("n3")
    both = {staying.node_id, joining.node_id}
    started = time.monotonic()
    await eventually(lambda: spread_is_fair(joining, names, both), timeout=60, what="15/15 again")
    took = time.monotonic() - started
    print(f"node {joining.node_id} joined: spread 15/15 after {took:.1f} s")
    assert await overlapping_connections(db, died) == []
    assert await devices(db) == linked
