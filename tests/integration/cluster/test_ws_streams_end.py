"""A token rotated (or an instance deleted) on one node ends the WebSocket streams another
node serves, as it ends that node's SSE streams; events of an instance held by one node reach
a WebSocket on another."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import ADMIN_TOKEN, create_instance

from .conftest import NodeFactory

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

LONG = {"sse_max_lifetime_s": 600.0, "instance_cache_ttl_s": 600.0}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def close_code(ws: ClientConnection, timeout: float = 5) -> int:
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code


async def next_event(ws: Any, timeout: float = 5) -> dict[str, Any]:
    """The stream's next event, past the control messages (a ping, a gap) sent between."""
    async with asyncio.timeout(timeout):
        while True:
            message = json.loads(await ws.recv())
            if "event" in message:
                return dict(message)


async def test_rotation_and_deletion_on_one_node_end_websockets_on_another(
    start_node: NodeFactory,
) -> None:
    first = await start_node(**LONG)
    second = await start_node(role="api", **LONG)
    created = await create_instance(first.http)
    name = created["name"]
    url = second.url.replace("http://", "ws://") + f"/v1/instances/{name}/events/ws"
    async with (
        connect(url, additional_headers=bearer(created["token"])) as mine,
        connect(url, additional_headers=bearer(ADMIN_TOKEN)) as admins,
    ):
        assert json.loads(await mine.recv())["type"] == "connected"
        assert json.loads(await admins.recv())["type"] == "connected"
        # An event of the instance, published where it is held, reaches the other node.
        connected = await first.http.post(f"/v1/instances/{name}/connect")
        assert connected.status_code == 202
        event = await next_event(admins)
        assert event["event"] == "connection_update" and event["instance"] == name
        rotated = await first.http.post(
            f"/v1/instances/{name}/token", headers=bearer(created["token"])
        )
        assert rotated.status_code == 200
        assert await close_code(mine) == 4000
        assert (await first.http.delete(f"/v1/instances/{name}")).status_code == 204
        assert await close_code(admins) == 4000
