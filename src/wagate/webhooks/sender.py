"""One webhook post: the signed request through aiohttp's client connection pool, cut off
after the timeout, and what came of it as a value."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import aiohttp
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
    """aiohttp's client rather than httpx: per post it costs about a third of the CPU
    (measured with bench/webhooks.py), and webhook delivery runs on the gateway's one event
    loop beside everything else. The session follows no redirects, keeps no cookies and
    sends no auth: a webhook goes to exactly its URL with exactly its headers."""

    def __init__(self, timeout_s: float, max_connections: int) -> None:
        self.timeout = timeout_s
        self._max_connections = max_connections
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        # Made on first use: a ClientSession belongs to the running event loop.
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, limit_per_host=0, ttl_dns_cache=60
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=aiohttp.ClientTimeout(total=None),
                auto_decompress=False,
                skip_auto_headers=("Accept-Encoding",),
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

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
            # One bound on the whole try: connect, send, the answer's head and its start.
            async with asyncio.timeout(self.timeout):
                async with self._client().post(
                    item.url, data=body, headers=headers, allow_redirects=False
                ) as response:
                    snippet = await _read_some(response)
                    status_code = response.status
                    retry_after = parse_retry_after(response.headers.get("retry-after"))
            if not is_success(status_code):
                error = f"HTTP {status_code}" + (f": {snippet}" if snippet else "")
        except TimeoutError:
            status_code = None
            error = f"timed out after {self.timeout:g} s"
        except aiohttp.ClientError as exc:
            status_code = None
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        except Exception as exc:  # a bad URL or a bug must fail this row, not the worker
            status_code = None
            log.warning("webhook post error", delivery=item.id, error=type(exc).__name__)
            error = f"{type(exc).__name__}: {exc}"
        duration_ms = int((time.perf_counter() - started) * 1000)
        # The host only: a URL's path, query and user info often carry the receiver's tokens.
        log.debug(
            "webhook posted",
            delivery=item.id,
            webhook_event=item.event,
            host=host_of(item.url),
            status=status_code,
            duration_ms=duration_ms,
        )
        return Attempt(item, attempted_at, status_code, error, duration_ms, retry_after)


async def _read_some(response: aiohttp.ClientResponse) -> str:
    """Read at most MAX_BODY_READ bytes of the answer; return its start as text. An answer
    that is longer is not read to its end: its connection is closed rather than reused."""
    received = await response.content.read(MAX_BODY_READ)
    return received[:ERROR_SNIPPET].decode("utf-8", "replace").strip()
