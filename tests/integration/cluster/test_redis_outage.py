"""Redis goes away: the node stops its clients before their leases could expire, lifecycle
calls and the cluster route answer 503 (without the exception), async sends are still
accepted; Redis comes back empty: the instance is taken again with a larger token and the
accepted send goes out."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import linked_instance, wait_status
from tests.support.polling import eventually
from tests.support.redis_server import RedisServer

from .conftest import NodeFactory
from .helpers import overlapping_connections

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop(kill=True)


async def test_redis_outage_and_return(start_node: NodeFactory, redis_server: RedisServer) -> None:
    node = await start_node(
        redis_url=redis_server.url, reconcile_interval_s=0.3, reconcile_grace_s=0.3
    )
    created = await linked_instance(node.http)
    name = created["name"]
    first = node.cluster.ownership.fencing_token(name)
    assert first is not None

    redis_server.stop(kill=True)
    await eventually(
        lambda: asyncio.sleep(0, node.state.manager.live_client(name) is None),
        timeout=5,
        what="the client stopped once renewals failed",
    )
    response = await node.http.post(f"/v1/instances/{name}/disconnect")
    assert response.status_code == 503, response.text
    # What failed, and where Redis is, goes to the log: the client gets no exception text.
    assert response.json()["error"] == {
        "code": "unavailable",
        "message": "the cluster cannot be reached; retry later",
        "details": {},
    }
    cluster = await node.http.get("/v1/cluster")
    assert cluster.status_code == 503, cluster.text
    assert cluster.json()["error"]["message"] == "the cluster state cannot be reached; retry later"

    async def lease_lost_recorded() -> bool:
        # The client leaves the node's table first, then its last status is written.
        row = (await node.http.get(f"/v1/instances/{name}")).json()
        return bool(row["status"] == "disconnected" and row["last_error"] == "lease_lost")

    await eventually(lease_lost_recorded, timeout=5, what="the lost lease recorded on the row")
    # An async send is still accepted: its row is the record, the queue only the signal
    # (a 503 here would make the client send again what the reconciler sends anyway).
    accepted = await node.http.post(
        f"/v1/instances/{name}/send/text?async=true",
        json={"to": "+4915112345678", "text": "sent once Redis is back"},
    )
    assert accepted.status_code == 202, accepted.text
    correlation_id = accepted.json()["correlation_id"]

    redis_server.start()  # empty: the fencing counter starts again from nothing
    await wait_status(node.http, name, "connected", timeout=15)
    again = node.cluster.ownership.fencing_token(name)
    assert again is not None and again > first  # the floor from the instance row

    async def sent() -> bool:
        found = await node.http.get(f"/v1/instances/{name}/messages/{correlation_id}")
        return bool(found.json()["status"] in ("sent", "delivered", "read"))

    await eventually(sent, timeout=15, what="the message accepted during the outage is sent")
    assert await overlapping_connections(node.state.db) == []
