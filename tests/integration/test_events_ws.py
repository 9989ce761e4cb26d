"""The live events over a WebSocket, against a real loopback server and a real WebSocket
client: the envelopes SSE sends, once and in order; resume after an event id; the token in a
header or the first message, never in the URL; the access rules; a slow reader cut off with
4008 while its buffer stays bounded; the end on rotation, deletion and shutdown."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import ADMIN_TOKEN, admin_headers, create_instance
from tests.integration.instance_helpers import SseReader
from wagate.events.event import Event, new_event_id

SEND_BUFFER = 100


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"ws_send_buffer": SEND_BUFFER, "ws_auth_timeout_s": 1.0, "sse_keepalive_s": 0.5}


def ws_url(base_url: str, path: str) -> str:
    return base_url.replace("http://", "ws://") + path


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def opened(
    base_url: str, path: str, token: str | None = None, **kwargs: Any
) -> AsyncIterator[ClientConnection]:
    headers = bearer(token) if token else None
    async with connect(ws_url(base_url, path), additional_headers=headers, **kwargs) as ws:
        yield ws


async def next_message(ws: ClientConnection, timeout: float = 5) -> dict[str, Any]:
    """The next message that is not a keep-alive ping."""
    while True:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout))
        if message.get("type") != "ping":
            return message


async def closed_with(ws: ClientConnection, timeout: float = 10) -> tuple[int, list[Any]]:
    """Read until the server closes: its close code, and what came before."""
    seen: list[Any] = []
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            seen.append(json.loads(await asyncio.wait_for(ws.recv(), timeout)))
    assert closed.value.rcvd is not None, "closed without a close frame"
    return closed.value.rcvd.code, seen


def fan_out(app: FastAPI, instance: str, count: int, size: int = 10) -> list[Event]:
    """Events of `instance` handed to the node's live sinks, as a published one is. Each pads
    its data with `size` random characters: the stream compresses (permessage-deflate), and
    a repeated pad shrank to almost nothing, so the kernel's socket buffers absorbed a backlog
    meant to outgrow them."""
    bus = app.state.wagate.bus
    items = [
        Event(
            new_event_id(),
            "message_ack",
            instance,
            1,
            datetime.now(UTC),
            {"n": n, "pad": base64.b64encode(os.urandom(size)).decode()[:size]},
        )
        for n in range(count)
    ]
    for item in items:
        bus.fan_out(item)
    return items


async def wait_subscribed(app: FastAPI, instance: str) -> None:
    for _ in range(500):
        if app.state.wagate.bus.streams.accepts(fan_out_probe(instance)):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the stream never subscribed")


def fan_out_probe(instance: str) -> Event:
    return Event("evt_probe", "message_ack", instance, 1, datetime.now(UTC), {})


@pytest.fixture
async def instance(base_url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base_url, headers=admin_headers(), timeout=10) as http:
        return await create_instance(http)


async def test_events_arrive_once_in_order_as_sse_envelopes(
    app: FastAPI, base_url: str, instance: dict[str, Any]
) -> None:
    name = instance["name"]
    async with opened(base_url, f"/v1/instances/{name}/events/ws", instance["token"]) as ws:
        hello = await next_message(ws)
        assert hello == {"type": "connected", "instance": name, "status": hello["status"]}
        sent = fan_out(app, name, 50)
        fan_out(app, "someone-else", 5)  # another instance's: not this stream's
        got = [await next_message(ws) for _ in sent]
        assert got == [item.envelope() for item in sent]
        # A client's ping is answered; nothing else was pending (no duplicate).
        await ws.send(json.dumps({"type": "ping"}))
        assert await next_message(ws) == {"type": "pong"}


async def test_token_in_the_first_message_and_resume_after_an_id(
    app: FastAPI, base_url: str, instance: dict[str, Any]
) -> None:
    name = instance["name"]
    path = f"/v1/instances/{name}/events/ws"
    first = fan_out(app, name, 10)
    async with opened(base_url, path) as ws:
        await ws.send(json.dumps({"token": instance["token"], "last_event_id": first[3].id}))
        assert (await next_message(ws))["type"] == "connected"
        missed = [await next_message(ws) for _ in first[4:]]
        assert [m["id"] for m in missed] == [item.id for item in first[4:]]
        live = fan_out(app, name, 3)
        assert [(await next_message(ws))["id"] for _ in live] == [item.id for item in live]
    # An id the node no longer has: the client is told it may have missed events.
    async with opened(base_url, path + "?last_event_id=evt_unknown", instance["token"]) as ws:
        assert (await next_message(ws))["type"] == "connected"
        assert await next_message(ws) == {"type": "gap", "last_event_id": "evt_unknown"}


async def test_admin_stream_of_every_instance_and_filters(
    app: FastAPI, base_url: str, instance: dict[str, Any]
) -> None:
    name = instance["name"]
    async with opened(base_url, "/v1/events/ws", ADMIN_TOKEN) as every:
        assert await next_message(every) == {"type": "connected"}
        await wait_subscribed(app, "anyone")
        sent = fan_out(app, name, 2) + fan_out(app, "another", 2)
        assert [(await next_message(every))["id"] for _ in sent] == [i.id for i in sent]
    path = f"/v1/events/ws?instance={name}&event=message_ack"
    async with opened(base_url, path, ADMIN_TOKEN) as filtered:
        assert await next_message(filtered) == {"type": "connected"}
        fan_out(app, "another", 2)
        mine = fan_out(app, name, 1)
        assert (await next_message(filtered))["id"] == mine[0].id
    # An instance token cannot open the admin's stream.
    async with opened(base_url, "/v1/events/ws", instance["token"]) as ws:
        code, seen = await closed_with(ws)
        assert code == 4403 and seen[0]["error"]["code"] == "forbidden"


@pytest.mark.parametrize("how", ["none", "wrong", "url", "late", "binary", "list"])
async def test_a_missing_or_wrong_token_is_refused(
    base_url: str, instance: dict[str, Any], how: str
) -> None:
    path = f"/v1/instances/{instance['name']}/events/ws"
    token = {"wrong": "wgi_" + "0" * 64}.get(how)
    if how == "url":
        path += f"?token={instance['token']}"
    async with opened(base_url, path, token) as ws:
        if how == "none":
            await ws.send(json.dumps({"last_event_id": "x"}))
        elif how == "binary":
            await ws.send(instance["token"].encode())
        elif how == "list":
            await ws.send(json.dumps([instance["token"]]))
        code, seen = await closed_with(ws)
    expected = 4400 if how in ("url", "binary", "list") else 4401
    assert code == expected
    assert set(seen[-1]["error"]) == {"code", "message", "details"}
    assert instance["token"] not in json.dumps(seen)


async def test_an_instance_token_cannot_read_another_instance(
    base_url: str, instance: dict[str, Any]
) -> None:
    async with httpx.AsyncClient(base_url=base_url, headers=admin_headers(), timeout=10) as http:
        other = await create_instance(http)
    path = f"/v1/instances/{other['name']}/events/ws"
    async with opened(base_url, path, instance["token"]) as ws:
        code, seen = await closed_with(ws)
    assert code == 4404 and seen[-1]["error"]["code"] == "not_found"


async def test_a_slow_reader_is_cut_off_with_its_buffer_bounded(
    app: FastAPI, base_url: str, instance: dict[str, Any]
) -> None:
    name = instance["name"]
    streams = app.state.wagate.bus.streams
    path = f"/v1/instances/{name}/events/ws"
    # The client reads nothing: its library stops reading the socket after one message.
    async with opened(base_url, path, instance["token"], max_queue=1) as ws:
        await wait_subscribed(app, name)
        deepest = 0
        for _ in range(400):
            fan_out(app, name, 50, size=16_000)
            deepest = max([deepest, *(queue.qsize() for queue in streams._owner_of)])
            await asyncio.sleep(0.005)
            if not streams.accepts(fan_out_probe(name)):
                break
        else:
            raise AssertionError("a reader that never reads was never cut off")
        assert deepest <= SEND_BUFFER
        code, seen = await closed_with(ws, timeout=30)
    assert code == 4008
    # What reached the client is what was in flight when it stopped reading, not the backlog.
    assert len(seen) < 400 * 50
    for _ in range(200):  # the server's side of the stream is gone: nothing holds events
        if not streams.open() and not streams._owner_of:
            break
        await asyncio.sleep(0.01)
    else:
        raise AssertionError("the cut-off stream still holds a queue")


async def test_the_stream_ends_on_rotation_and_on_deletion(
    base_url: str, instance: dict[str, Any]
) -> None:
    name = instance["name"]
    path = f"/v1/instances/{name}/events/ws"
    async with httpx.AsyncClient(base_url=base_url, headers=admin_headers(), timeout=10) as http:
        async with (
            opened(base_url, path, instance["token"]) as mine,
            opened(base_url, path, ADMIN_TOKEN) as admins,
        ):
            assert (await next_message(mine))["type"] == "connected"
            assert (await next_message(admins))["type"] == "connected"
            rotated = await http.post(
                f"/v1/instances/{name}/token", headers=bearer(instance["token"])
            )
            assert rotated.status_code == 200
            code, _ = await closed_with(mine)
            assert code == 4000
            # The admin's stream goes on until the instance is deleted.
            await admins.send(json.dumps({"type": "ping"}))
            assert await next_message(admins) == {"type": "pong"}
            assert (await http.delete(f"/v1/instances/{name}")).status_code == 204
            code, _ = await closed_with(admins)
            assert code == 4000
        # The old token cannot open another.
        async with opened(base_url, path, instance["token"]) as again:
            code, _ = await closed_with(again)
            assert code in (4401, 4404)


async def test_node_shutdown_closes_with_going_away(
    app: FastAPI, base_url: str, instance: dict[str, Any]
) -> None:
    async with opened(base_url, "/v1/events/ws", ADMIN_TOKEN) as ws:
        assert await next_message(ws) == {"type": "connected"}
        app.state.wagate.bus.close()
        code, _ = await closed_with(ws)
    assert code == 1001


async def test_real_events_resume_the_same_way_over_sse_and_websocket(
    base_url: str, instance: dict[str, Any]
) -> None:
    """Events of a real connection (not handed in by the test): a WebSocket sees them, and an
    SSE stream and a WebSocket that resume after the first get the same rest, once."""
    name = instance["name"]
    path = f"/v1/instances/{name}/events/ws"
    async with (
        httpx.AsyncClient(base_url=base_url, headers=bearer(instance["token"]), timeout=10) as http,
        opened(base_url, path, instance["token"]) as ws,
    ):
        assert (await next_message(ws))["type"] == "connected"
        assert (await http.post(f"/v1/instances/{name}/connect")).status_code == 202
        seen = [await next_message(ws) for _ in range(3)]  # connecting, pairing, qr_updated
        assert [m["event"] for m in seen] == [
            "connection_update",
            "connection_update",
            "qr_updated",
        ]
        headers = {**bearer(instance["token"]), "Last-Event-ID": seen[0]["id"]}
        async with http.stream("GET", f"/v1/instances/{name}/events", headers=headers) as sse:
            reader = SseReader(sse)
            assert [(await reader.next())[1] for _ in seen[1:]] == seen[1:]
        async with opened(
            base_url, path + f"?last_event_id={seen[0]['id']}", instance["token"]
        ) as again:
            assert (await next_message(again))["type"] == "connected"
            assert [await next_message(again) for _ in seen[1:]] == seen[1:]
