"""A node listens to other nodes' events only while it uses them (a live stream, a sync send
waiting for its outcome), and a holder whose events nobody else wants publishes none."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import linked_instance
from tests.support.polling import eventually
from tests.support.redis_server import RedisServer
from wagate.cluster.events import WANT_TIMEOUT_S, EventRelay

from .conftest import Node, NodeFactory

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def relay(node: Node) -> EventRelay:
    found = node.cluster.relay
    assert found is not None
    return found


async def inbound(node: Node, name: str, text: str) -> str:
    response = await node.http.post(
        f"/v1/instances/{name}/simulator/inbound", json={"from": "5511999990001", "text": text}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["message_id"])


async def test_a_node_listens_only_while_a_stream_is_open(start_node: NodeFactory) -> None:
    holder = await start_node()
    api = await start_node(role="api")
    created = await linked_instance(api.http)
    name = created["name"]
    assert name in holder.held_names()

    # Nobody on the API node uses events: it does not listen, and the holder, alone on the
    # channel, stops publishing after its first PUBLISH reached nobody.
    before = await inbound(api, name, "before")
    await eventually(holds(lambda: relay(holder).alone), timeout=5, what="holder alone")
    assert relay(api).received == 0

    received: list[dict[str, object]] = []
    opened = asyncio.Event()

    async def listen() -> None:
        async with (
            httpx.AsyncClient(base_url=api.url, headers={"X-Api-Key": created["token"]}) as http,
            http.stream("GET", f"/v1/instances/{name}/events", timeout=30) as stream,
        ):
            opened.set()  # the response has started: the node listens and has said so
            async for line in stream.aiter_lines():
                if line.startswith("data: "):
                    received.append(json.loads(line[6:]))

    task = asyncio.create_task(listen())
    await asyncio.wait_for(opened.wait(), 10)
    # No pause here: the stream answered after the hello, so the next event reaches it.
    message_id = await inbound(api, name, "during")

    def received_ids() -> list[object]:
        inbound_events = [e for e in received if e["event"] == "message_received"]
        return [e["data"]["message_id"] for e in inbound_events]  # type: ignore[index]

    async def got_it() -> bool:
        return message_id in received_ids()

    await eventually(got_it, timeout=5, what="message_received on the API node's stream")
    # Once, and nothing else: the first message's event may still reach the stream when the
    # holder went quiet on another event before publishing it, never any other one.
    assert received_ids().count(message_id) == 1
    assert set(received_ids()) <= {before, message_id}
    assert not relay(holder).alone

    # The stream ends; after the linger the API node stops listening and the holder goes quiet.
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    relay(api).linger_s = 0.2
    await eventually(holds(lambda: not relay(api)._subscribed), timeout=5, what="unsubscribed")
    before = relay(api).received
    await inbound(api, name, "after")
    await eventually(holds(lambda: relay(holder).alone), timeout=5, what="holder alone again")
    await asyncio.sleep(0.3)
    assert relay(api).received == before


async def test_a_sync_send_on_an_api_node_is_woken_by_the_relayed_ack(
    start_node: NodeFactory,
) -> None:
    # Outcome polls every 8 s (4 x the interval): an answer well before comes from the relay.
    holder = await start_node(sync_poll_interval_s=2.0)
    api = await start_node(role="api", sync_poll_interval_s=2.0)
    created = await linked_instance(api.http)
    name = created["name"]
    assert name in holder.held_names()
    assert not relay(api)._subscribed
    started = time.monotonic()
    response = await api.http.post(
        f"/v1/instances/{name}/send/text", json={"to": "+5511999912345", "text": "sync"}
    )
    elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert response.json()["status"] in ("sent", "delivered", "read")
    assert relay(api)._subscribed
    assert relay(api).received >= 1
    assert elapsed < 4.0, f"answered after {elapsed:.1f} s: woken by the poll, not the relay"


def holds(predicate: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return predicate()

    return check


async def test_a_stream_opens_while_redis_hangs(start_node: NodeFactory, tmp_path: Path) -> None:
    """Redis hangs: the relay's subscription waits, the stream still answers within
    WANT_TIMEOUT_S (the subscription goes on in the background)."""
    server = RedisServer(tmp_path)
    server.start()
    try:
        node = await start_node(redis_url=server.url)
        created = await linked_instance(node.http)
        name = created["name"]
        assert server.process is not None
        server.process.send_signal(signal.SIGSTOP)  # Redis hangs: no answer, no error
        started = time.monotonic()
        async with (
            httpx.AsyncClient(base_url=node.url, headers={"X-Api-Key": created["token"]}) as http,
            http.stream("GET", f"/v1/instances/{name}/events", timeout=30) as stream,
        ):
            opened_after = time.monotonic() - started
            assert stream.status_code == 200
            assert opened_after < WANT_TIMEOUT_S + 1.0, opened_after
    finally:
        if server.process is not None:
            server.process.send_signal(signal.SIGCONT)
        server.stop(kill=True)
