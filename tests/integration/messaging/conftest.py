"""Fixtures of the messaging tests: fast retry timings, both queue backends, media servers."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.support.polling import eventually

FAST = {
    "send_retry_base_s": 0.02,
    "send_retry_max_s": 0.1,
    "sync_timeout_s": 10.0,
    "reconcile_interval_s": 0.3,
    "reconcile_grace_s": 0.5,
    "queue_claim_idle_ms": 500,
    "sync_poll_interval_s": 0.1,
    "media_download_timeout_s": 3.0,
}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return dict(FAST)


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.redis)])
def queue_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Runs a test on the embedded queue and on Redis Streams (own key prefix per test)."""
    if request.param == "local":
        return {}
    url: str = request.getfixturevalue("redis_url")
    prefix = f"wgtest:{uuid.uuid4().hex[:10]}:"
    # These nodes run inside the test process, where a garbage collection of the whole
    # suite's objects held the GIL, and so the lease renewals' thread, for over a second: a
    # 1.2 s lease was lost then (a linked instance left its node in the middle of a test).
    # No test of these waits for a lease to run out.
    return {"redis_url": url, **redis_keys(prefix), "lease_ttl_s": 5.0}


def redis_keys(prefix: str) -> dict[str, Any]:
    """A Redis-backed node's keys under `prefix` (shared Redis), with quick cluster leases."""
    return {
        "queue_key_prefix": prefix + "q:",
        "cluster_key_prefix": prefix + "cluster:",
        "lease_ttl_s": 1.2,
        "lease_renew_interval_s": 0.3,
        "heartbeat_interval_s": 0.3,
        "placement_interval_s": 0.2,
    }


def png_bytes(size: tuple[int, int] = (8, 8), fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, format=fmt)
    return out.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class _Handler(BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, dict[str, str], bytes]] = {}

    def do_GET(self) -> None:
        status, headers, body = self.server.routes.get(  # type: ignore[attr-defined]
            self.path, (404, {}, b"")
        )
        if self.path == "/slow":
            import time

            time.sleep(5)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        with contextlib.suppress(OSError):
            self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


class MediaServer:
    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.routes = {}  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def serve(self, path: str, body: bytes, status: int = 200, **headers: str) -> str:
        self.server.routes[path] = (status, headers, body)  # type: ignore[attr-defined]
        return self.url + path


@pytest.fixture
def media_server() -> Iterator[MediaServer]:
    server = MediaServer()
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.server.shutdown()
    server.server.server_close()


async def send_texts(
    client: httpx.AsyncClient, name: str, count: int, to: str = "5511987654321"
) -> list[str]:
    """`count` sync text sends, one after the other; their correlation ids."""
    ids = []
    for i in range(count):
        response = await client.post(
            f"/v1/instances/{name}/send/text", json={"to": to, "text": f"m{i}"}
        )
        assert response.status_code == 200, response.text
        ids.append(response.json()["correlation_id"])
    return ids


async def wait_message(
    client: httpx.AsyncClient,
    name: str,
    correlation_id: str,
    statuses: set[str],
    timeout: float = 10,
) -> dict[str, Any]:
    last: dict[str, Any] = {}

    async def reached() -> dict[str, Any] | None:
        last.clear()
        last.update((await client.get(f"/v1/instances/{name}/messages/{correlation_id}")).json())
        return dict(last) if last.get("status") in statuses else None

    return await eventually(
        reached,
        timeout=timeout,
        interval=0.02,
        what=f"{correlation_id} in {sorted(statuses)}",
        seen=lambda: last,
    )


@pytest.fixture
async def events_of() -> AsyncIterator[Any]:
    """Collect an instance's bus events: `events_of(app, name)` -> list filled as they come."""
    tasks: list[asyncio.Task[None]] = []

    def start(app: Any, name: str) -> list[Any]:
        seen: list[Any] = []
        ready = asyncio.Event()

        async def pump() -> None:
            async with app.state.wagate.bus.subscribe(name) as queue:
                ready.set()
                while True:
                    item = await queue.get()
                    if item is None:
                        return
                    seen.append(item)

        tasks.append(asyncio.create_task(pump()))
        return seen

    yield start
    for task in tasks:
        task.cancel()
