"""A real wagate node for the client's tests, served over HTTP on loopback from its own
thread (its own event loop), so that the synchronous client can block on it; and a webhook
receiver served the same way."""

from __future__ import annotations

import asyncio
import queue
import shutil
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ADMIN_TOKEN, live_server, make_settings, running_app
from wagate.config import Settings

# The client is its own package (clients/python); the tests import it from its source tree.
CLIENT_SRC = Path(__file__).resolve().parents[2] / "clients" / "python" / "src"
if str(CLIENT_SRC) not in sys.path:
    sys.path.insert(0, str(CLIENT_SRC))

# Fast webhook retries and keep-alives, so a test sees deliveries in well under a second.
FAST = {
    "webhook_retry_base_delay_s": 0.05,
    "webhook_retry_max_delay_s": 0.3,
    "webhook_poll_interval_s": 0.05,
    "webhook_timeout_s": 2.0,
    "sse_keepalive_s": 1.0,
    # The receiver listens on 127.0.0.1, which the gateway refuses as a webhook target and
    # a media URL by default.
    "allow_private_webhook_urls": True,
    "allow_private_media_urls": True,
}


@dataclass
class Hook:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """A raw ASGI webhook receiver: records every POST (thread-safe queue), answers 204; a
    GET answers `media` as image/png, for sends of media by URL."""

    def __init__(self) -> None:
        self.received: queue.Queue[Hook] = queue.Queue()
        self.media = b""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] == "GET":
            headers = [(b"content-type", b"image/png")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": self.media})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.received.put(Hook(scope["path"], headers, body))
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})


class Node:
    """The app and a receiver, served from a background thread until stop()."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.receiver = Receiver()
        self.url = ""
        self.hook_url = ""
        self.media_url = ""
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._main, name="wagate-node", daemon=True)

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with (
            running_app(self.settings) as app,
            live_server(app) as url,
            live_server(self.receiver) as hook_base,  # type: ignore[arg-type]
        ):
            self.url = url
            self.hook_url = f"{hook_base}/hook"
            self.media_url = f"{hook_base}/media.png"
            self._ready.set()
            await self._stop.wait()

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(60):
            raise RuntimeError("the node did not start within 60 s")
        if self._error is not None:
            raise self._error

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(30)

    def next_hook(self, timeout: float = 10.0) -> Hook:
        return self.receiver.received.get(timeout=timeout)


@pytest.fixture(scope="module")
def node(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    directory = tmp_path_factory.mktemp("client-node")
    database = directory / "wagate.db"
    shutil.copy(sqlite_template, database)
    settings = make_settings(f"sqlite+aiosqlite:///{database}", directory / "data", **FAST)
    served = Node(settings)
    served.start()
    yield served
    served.stop()


@pytest.fixture
def admin_token() -> str:
    return ADMIN_TOKEN
