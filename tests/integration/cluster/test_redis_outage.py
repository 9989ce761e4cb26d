"""Redis goes away: the node stops its clients before their leases could expire, lifecycle
calls answer 503; Redis comes back empty: the instance is taken again with a larger token."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import linked_instance, wait_status
from tests.support.redis_server import RedisServer

from .conftest import NodeFactory, eventually
from .helpers import overlapping_connections

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop(kill=True)


async def test_redis_outage_and_return(start_node: NodeFactory, redis_server: RedisServer) -> None:
    node = await start_node(redis_url=redis_server.url)
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
    assert response.json()["error"]["code"] == "unavailable"
    row = (await node.http.get(f"/v1/instances/{name}")).json()
    assert row["status"] == "disconnected" and row["last_error"] == "lease_lost"

    redis_server.start()  # empty: the fencing counter starts again from nothing
    await wait_status(node.http, name, "connected", timeout=15)
    again = node.cluster.ownership.fencing_token(name)
    assert again is not None and again > first  # the floor from the instance row
    assert await overlapping_connections(node.state.db) == []
