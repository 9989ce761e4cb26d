"""A real HTTP webhook receiver on loopback, and fast webhook timings for these tests."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from tests.conftest import admin_headers, free_port, running_app
from tests.support.polling import eventually
from wagate.config import Settings

# Fast retries so that a test sees several attempts in well under a second.
FAST = {
    "webhook_retry_base_delay_s": 0.05,
    "webhook_retry_max_delay_s": 0.3,
    "webhook_poll_interval_s": 0.05,
    "webhook_timeout_s": 2.0,
}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return dict(FAST)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.body)
        return value


Respond = Callable[[Received], Awaitable[int]]


async def always_ok(_: Received) -> int:
    return 200


class Receiver:
    """An HTTP server (uvicorn, raw ASGI) that records every POST and answers what
    `respond` says; `respond` may also sleep to play a hanging receiver."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.requests: list[Received] = []
        self.respond: Respond = always_ok
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def _app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        item = Received(scope["path"], headers, body, time.monotonic())
        self.requests.append(item)
        status = await self.respond(item)
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"ok" if status < 300 else b"nope"})

    async def start(self) -> None:
        config = uvicorn.Config(
            self._app,
            host="127.0.0.1",
            port=self.port,
            lifespan="off",
            log_config=None,
            timeout_graceful_shutdown=0.5,
            interface="asgi3",
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await asyncio.wait_for(self._task, 10)
            self._server = self._task = None

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        bodies = [r.json() for r in self.requests]
        return [b for b in bodies if name is None or b["event"] == name]

    async def wait_for(self, predicate: Callable[[Receiver], bool], timeout: float = 10.0) -> None:
        async def met() -> bool:
            return predicate(self)

        def got() -> list[tuple[str, str | None]]:
            return [(r.json()["event"], r.headers.get("x-wagate-delivery")) for r in self.requests]

        await eventually(
            met, timeout=timeout, interval=0.02, what="the receiver's condition", seen=got
        )


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    item = Receiver()
    await item.start()
    yield item
    await item.stop()


@pytest.fixture
async def receivers() -> AsyncIterator[Callable[[], Awaitable[Receiver]]]:
    """A factory for more receivers, all stopped at the end."""
    made: list[Receiver] = []

    async def make() -> Receiver:
        item = Receiver()
        await item.start()
        made.append(item)
        return item

    yield make
    for item in made:
        await item.stop()


def expected_signature(secret: str, header: str, body: bytes) -> bool:
    """Recompute X-Wagate-Signature independently of the gateway's code."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    signed = fields["t"].encode() + b"." + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return abs(int(fields["t"]) - time.time()) < 60 and hmac.compare_digest(digest, fields["v1"])


async def deliveries(
    client: httpx.AsyncClient, name: str, status: str | None = None
) -> list[dict[str, Any]]:
    params = {"status": status} if status else {}
    response = await client.get(f"/v1/instances/{name}/webhook/deliveries", params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["deliveries"]
    return items


async def inbound(client: httpx.AsyncClient, name: str, text: str) -> None:
    response = await client.post(
        f"/v1/instances/{name}/simulator/inbound", json={"from": "15551234567", "text": text}
    )
    assert response.status_code == 200, response.text


@contextlib.asynccontextmanager
async def app_client(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """An app started with these settings and an admin client on it (in-process)."""
    async with (
        running_app(settings) as app,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://wagate.test",
            headers=admin_headers(),
            timeout=30,
        ) as client,
    ):
        yield app, client


async def hook_messages(client: httpx.AsyncClient, name: str, url: str) -> None:
    """Point the instance's webhook at `url` for message_received only."""
    response = await client.put(
        f"/v1/instances/{name}/webhook", json={"url": url, "events": ["message_received"]}
    )
    assert response.status_code == 200, response.text


async def wait_deliveries(
    client: httpx.AsyncClient, name: str, status: str, count: int, timeout: float = 10.0
) -> list[dict[str, Any]]:
    """Wait until exactly `count` deliveries of the instance have `status`; return them."""

    async def reached() -> bool:
        return len(await deliveries(client, name, status)) == count

    await eventually(reached, timeout=timeout, what=f"{count} deliveries {status}")
    return await deliveries(client, name, status)
