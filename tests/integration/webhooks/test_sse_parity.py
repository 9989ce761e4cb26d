"""The SSE stream and the webhook carry the same events, with the same envelopes."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from fastapi import FastAPI

from tests.conftest import admin_headers, linked_instance, live_server
from tests.integration.webhooks.conftest import Receiver, inbound


async def _read_sse(
    response: httpx.Response, into: list[dict[str, Any]], ready: asyncio.Event
) -> None:
    data: list[str] = []
    async for line in response.aiter_lines():
        if line.startswith(":"):
            ready.set()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif line == "" and data:
            into.append(json.loads("\n".join(data)))
            data = []


async def test_sse_and_webhook_carry_the_same_events(
    app: FastAPI, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    linked = await linked_instance(client, webhook={"url": receiver.url})
    name = linked["name"]
    streamed: list[dict[str, Any]] = []
    ready = asyncio.Event()
    async with (
        live_server(app) as base,
        httpx.AsyncClient(base_url=base, headers=admin_headers(), timeout=30) as http,
        http.stream("GET", f"/v1/instances/{name}/events") as response,
    ):
        assert response.status_code == 200
        reader = asyncio.create_task(_read_sse(response, streamed, ready))
        await asyncio.wait_for(ready.wait(), 5)
        for n in range(3):
            await inbound(client, name, f"both {n}")
        # Inbound messages are handled by the client's event loop: let them land before the
        # disconnect stops that client.
        await receiver.wait_for(lambda r: len(r.events("message_received")) == 3)
        assert (await client.post(f"/v1/instances/{name}/disconnect")).status_code == 200
        assert (await client.post(f"/v1/instances/{name}/connect")).status_code == 202
        await receiver.wait_for(
            lambda r: (
                len(r.events("message_received")) == 3
                and any(
                    e["data"]["status"] == "connected" for e in r.events("connection_update")[-1:]
                )
                and len(r.events("connection_update")) >= 4
            )
        )
        deadline = asyncio.get_running_loop().time() + 5
        while len(streamed) < 3 + 2 and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.3)
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
    by_id = {e["id"]: e for e in receiver.events()}
    assert len(streamed) >= 5
    for envelope in streamed:
        assert by_id.get(envelope["id"]) == envelope
    kinds = [e["event"] for e in streamed]
    assert kinds.count("message_received") == 3 and "connection_update" in kinds
    # Everything that happened while the stream was open went out on both channels.
    first = min(i for i, e in enumerate(receiver.events()) if e["id"] == streamed[0]["id"])
    assert [e["id"] for e in receiver.events()[first:]] == [e["id"] for e in streamed]
