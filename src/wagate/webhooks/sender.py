"""One webhook post: the signed request through httpx's connection pool, cut off after the
timeout, and what came of it as a value."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import httpx
import structlog

from wagate.db import utcnow
from wagate.webhooks.repository import Claimed
from wagate.webhooks.retry import is_success, parse_retry_after
from wagate.webhooks.signing import SIGNATURE_HEADER, signature_header

log = structlog.get_logger(__name__)

# Enough of a receiver's answer to explain a failure, and to let the connection be reused.
MAX_BODY_READ = 64 * 1024
ERROR_SNIPPET = 300
USER_AGENT = "wagate-webhooks"


@dataclass(frozen=True, slots=True)
class Attempt:
    delivery: Claimed
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int
    retry_after_s: float | None = None
    tried: bool = True


def host_of(url: str) -> str:
    """What a log may say about a URL: its path, query and user info often carry tokens."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return "?"
    if not host:
        return "?"
    return f"{host}:{port}" if port else host


class Sender:
    def __init__(self, timeout_s: float, max_connections: int) -> None:
        self.timeout = timeout_s
        self._limits = httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        )
        self._timeouts = httpx.Timeout(timeout_s).as_dict()
        # httpx's connection pools used directly: a client adds redirects, cookies shared
        # between receivers and auth hooks that webhooks must not have, and a quarter more CPU
        # per post. One pool per origin, because a pool scans all its connections on every
        # request: receivers do not slow each other down that way either.
        self._pools: dict[tuple[str, str, int | None], httpx.AsyncHTTPTransport] = {}

    def _pool(self, url: httpx.URL) -> httpx.AsyncHTTPTransport:
        origin = (url.scheme, url.host, url.port)
        pool = self._pools.get(origin)
        if pool is None:
            pool = self._pools[origin] = httpx.AsyncHTTPTransport(limits=self._limits, retries=0)
        return pool

    async def aclose(self) -> None:
        for pool in self._pools.values():
            await pool.aclose()
        self._pools.clear()

    async def post(self, item: Claimed, secret: str | None) -> Attempt:
        body = item.payload.encode("utf-8")
        headers = {
            "User-Agent": USER_AGENT,
            "Content-Type": "application/json",
            "X-Wagate-Event": item.event,
            "X-Wagate-Delivery": item.id,
        }
        if secret:
            headers[SIGNATURE_HEADER] = signature_header(secret, body)
        attempted_at = utcnow()
        started = time.perf_counter()
        status_code: int | None = None
        retry_after: float | None = None
        error: str | None = None
        try:
            # httpx's timeout is per phase (connect, each read...); this bounds the whole try.
            async with asyncio.timeout(self.timeout):
                request = httpx.Request(
                    "POST",
                    item.url,
                    content=body,
                    headers=headers,
                    extensions={"timeout": self._timeouts},
                )
                response = await self._pool(request.url).handle_async_request(request)
                try:
                    snippet = await _read_some(response)
                finally:
                    await response.aclose()
            status_code = response.status_code
            retry_after = parse_retry_after(response.headers.get("retry-after"))
            if not is_success(status_code):
                error = f"HTTP {status_code}" + (f": {snippet}" if snippet else "")
        except TimeoutError:
            error = f"timed out after {self.timeout:g} s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        except Exception as exc:  # a bad URL or a bug must fail this row, not the worker
            log.warning("webhook post error", delivery=item.id, error=type(exc).__name__)
            error = f"{type(exc).__name__}: {exc}"
        duration_ms = int((time.perf_counter() - started) * 1000)
        return Attempt(item, attempted_at, status_code, error, duration_ms, retry_after)


async def _read_some(response: httpx.Response) -> str:
    """Read at most MAX_BODY_READ bytes of the answer; return its start as text."""
    received = bytearray()
    async for chunk in response.aiter_raw():
        received.extend(chunk)
        if len(received) >= MAX_BODY_READ:
            break
    return received[:ERROR_SNIPPET].decode("utf-8", "replace").strip()
