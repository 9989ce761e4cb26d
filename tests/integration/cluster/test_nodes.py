"""Several nodes in one process on one PostgreSQL and one Redis, each on its own HTTP port."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import linked_instance, wait_status
from tests.support.polling import eventually
from wagate.engines.simulator.engine import SimulatorClient
from wagate.engines.status import Status
from wagate.models import Instance

from .conftest import Node, NodeFactory
from .helpers import overlapping_connections

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def halt_renewals(node: Node) -> None:
    """The renewal thread stops as in a frozen process: nothing more reaches Redis."""
    node.cluster.renewer._stop.set()
    node.cluster.renewer._thread.join(5)


async def spread(nodes: list[Node]) -> dict[str, set[str]]:
    return {node.id: node.held_names() for node in nodes}


async def all_connected(node: Node, names: list[str]) -> bool:
    response = await node.http.get("/v1/instances")
    statuses = {i["name"]: i["status"] for i in response.json()["instances"]}
    return all(statuses.get(name) == "connected" for name in names)


async def test_nodes_register_and_the_cluster_route_lists_them(start_node: NodeFactory) -> None:
    a = await start_node()
    b = await start_node()
    api = await start_node(role="api")
    for node in (a, b, api):
        response = await node.http.get("/v1/cluster")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["mode"] == "cluster" and body["node"] == node.id
        listed = {n["id"]: n for n in body["nodes"]}
        assert {a.id, b.id, api.id} <= set(listed)
        assert listed[api.id]["role"] == "api" and listed[a.id]["role"] == "all"
        assert listed[a.id]["address"] == a.url and listed[a.id]["live"] is True
    instance_token = (await a.http.post("/v1/instances", json={"name": "tok-check"})).json()[
        "token"
    ]
    forbidden = await a.http.get(
        "/v1/cluster", headers={"Authorization": f"Bearer {instance_token}"}
    )
    assert forbidden.status_code == 403
    assert (await httpx.AsyncClient(base_url=a.url).get("/v1/cluster")).status_code == 401


async def test_instances_spread_fairly_and_lifecycle_calls_reach_the_holder(
    start_node: NodeFactory,
) -> None:
    a = await start_node()
    b = await start_node()
    names = [(await linked_instance(a.http))["name"] for _ in range(6)]

    async def balanced() -> bool:
        held = await spread([a, b])
        return sorted(len(v) for v in held.values()) == [3, 3] and await all_connected(a, names)

    await eventually(balanced, what="3 instances on each node, all connected", timeout=15)
    body = (await b.http.get("/v1/cluster")).json()
    listed = {n["id"]: set(n["instances"]) for n in body["nodes"]}
    assert listed[a.id] == a.held_names() and listed[b.id] == b.held_names()
    for name in names:
        row = (await a.http.get(f"/v1/instances/{name}")).json()
        holder = a if name in a.held_names() else b
        assert row["node"] == holder.id

    # A call on the node that does not hold the instance acts on the holder's client.
    name = sorted(b.held_names())[0]
    response = await a.http.post(f"/v1/instances/{name}/disconnect")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "disconnected"
    assert b.state.manager.live_client(name) is None
    assert a.state.manager.live_client(name) is None
    response = await a.http.post(f"/v1/instances/{name}/connect")
    assert response.status_code == 202, response.text
    await wait_status(a.http, name, "connected")
    holder = a if name in a.held_names() else b
    assert isinstance(holder.state.manager.live_client(name), SimulatorClient)
    assert await overlapping_connections(a.state.db) == []


async def test_events_reach_sse_on_every_node_once(start_node: NodeFactory) -> None:
    a = await start_node()
    b = await start_node()
    created = await linked_instance(a.http)
    name = created["name"]
    holder, other = (a, b) if name in a.held_names() else (b, a)
    received: list[dict[str, object]] = []

    async def listen() -> None:
        async with (
            httpx.AsyncClient(base_url=other.url, headers={"X-Api-Key": created["token"]}) as http,
            http.stream("GET", f"/v1/instances/{name}/events", timeout=30) as stream,
        ):
            async for line in stream.aiter_lines():
                if line.startswith("data: "):
                    received.append(json.loads(line[6:]))

    task = asyncio.create_task(listen())
    await asyncio.sleep(0.5)  # the stream is open
    # Sent to the node that does not hold it: forwarded to the holder, whose event comes back.
    response = await other.http.post(
        f"/v1/instances/{name}/simulator/inbound", json={"from": "5511999990001", "text": "hi"}
    )
    assert response.status_code == 200, response.text
    message_id = response.json()["message_id"]

    async def got_it() -> bool:
        return any(e["event"] == "message_received" for e in received)

    await eventually(got_it, timeout=5, what="message_received on the other node's SSE")
    await asyncio.sleep(0.5)
    task.cancel()
    inbound = [e for e in received if e["event"] == "message_received"]
    assert len(inbound) == 1, received
    assert inbound[0]["data"]["message_id"] == message_id  # type: ignore[index]
    assert holder.id != other.id


async def test_an_api_node_holds_nothing_and_forwards(start_node: NodeFactory) -> None:
    api = await start_node(role="api")
    worker = await start_node()
    created = await linked_instance(api.http)
    name = created["name"]
    assert api.held_names() == set()
    assert name in worker.held_names()
    assert api.state.manager.live_client(name) is None
    response = await api.http.post(f"/v1/instances/{name}/disconnect")
    assert response.status_code == 200, response.text
    assert worker.state.manager.live_client(name) is None
    response = await api.http.post(f"/v1/instances/{name}/connect")
    assert response.status_code == 202, response.text
    await wait_status(api.http, name, "connected")
    assert name in worker.held_names()
    assert (await api.http.delete(f"/v1/instances/{name}")).status_code == 204
    await eventually(
        lambda: asyncio.sleep(0, name not in worker.held_names()),
        what="lease given back",
        timeout=15,
    )
    assert worker.state.manager.live_client(name) is None


async def test_a_clean_stop_hands_every_instance_over(start_node: NodeFactory) -> None:
    a = await start_node()
    b = await start_node()
    names = [(await linked_instance(a.http))["name"] for _ in range(4)]
    await eventually(
        lambda: asyncio.sleep(0, len(a.held_names()) == 2 and len(b.held_names()) == 2),
        what="2 instances on each node",
        timeout=15,
    )
    await eventually(lambda: all_connected(b, names), what="all connected", timeout=15)
    db = b.state.db
    await a.stop()
    await eventually(
        lambda: asyncio.sleep(0, b.held_names() == set(names)),
        what="b holds everything",
        timeout=15,
    )
    await eventually(lambda: all_connected(b, names), what="all connected on b", timeout=15)
    assert await overlapping_connections(db) == []
    body = (await b.http.get("/v1/cluster")).json()
    gone = next(n for n in body["nodes"] if n["id"] == a.id)
    assert gone["live"] is False and gone["stopped_at"] is not None and gone["instances"] == []


async def test_a_stale_holder_is_fenced_off(start_node: NodeFactory) -> None:
    a = await start_node()
    created = await linked_instance(a.http)
    name = created["name"]
    stale_token = a.cluster.ownership.fencing_token(name)
    assert stale_token is not None
    assert await a.cluster.ownership.still_holds(name, stale_token)
    # Node a stalls (its cluster loops and its renewal thread stop, as in a long pause): its
    # lease runs out and b takes the instance over.
    for task in a.cluster._tasks:
        task.cancel()
    halt_renewals(a)
    b = await start_node()
    await eventually(
        lambda: asyncio.sleep(0, b.state.manager.status_of(name) == Status.CONNECTED),
        what="b takes over and connects",
        timeout=15,
    )
    new_token = b.cluster.ownership.fencing_token(name)
    assert new_token is not None and new_token > stale_token
    assert not await a.cluster.ownership.still_holds(name, stale_token)
    # a's client still runs (a never noticed); whatever a writes now is refused, and the
    # refusal makes a stop that client.
    assert isinstance(a.state.manager.live_client(name), SimulatorClient)
    instance_id = a.cluster.ownership.ids[name]
    async with a.state.db.transaction() as session:
        fields = {"status": "disconnected", "node": None, "last_error": "stale"}
        assert not await a.cluster.ownership.write(session, instance_id, fields)
    await eventually(
        lambda: asyncio.sleep(0, a.state.manager.live_client(name) is None),
        what="the stale client stopped",
        timeout=15,
    )
    async with b.state.db.session() as session:
        row = (await session.execute(select(Instance).where(Instance.name == name))).scalar_one()
    assert row.status == "connected" and row.node == b.id and row.fencing_token == new_token
    assert row.last_error is None


async def test_a_node_that_cannot_renew_stops_its_clients_before_the_lease_expires(
    start_node: NodeFactory,
) -> None:
    a = await start_node()
    created = await linked_instance(a.http)
    name = created["name"]
    lease = a.cluster.ownership.held()[a.cluster.ownership.ids[name]]
    halt_renewals(a)  # renewals stop reaching Redis; the guard keeps running
    for task in a.cluster._tasks:
        if task.get_name() == "cluster-placement":
            task.cancel()
    await eventually(
        lambda: asyncio.sleep(0, a.state.manager.live_client(name) is None),
        timeout=5,
        what="the client stopped",
    )
    # Stopped before the lease could have expired in Redis: nobody else could connect it yet.
    assert time.monotonic() < lease.valid_until
    # Nobody took the instance, so the last holder's final status was accepted.
    row = await wait_status(a.http, name, "disconnected", timeout=5)
    assert row["last_error"] == "lease_lost"
    assert await overlapping_connections(a.state.db) == []
