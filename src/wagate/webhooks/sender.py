"""One webhook post: the signed request through aiohttp's client connection pool, cut off
after the timeout, and what came of it as a value.

An instance's webhook URL is the caller's input: it goes through the address guard
(wagate/netguard.py) at every post, and the connection goes only to addresses that passed it.
The receiver's answer is not the caller's to read (the URL may point into a network only the
gateway reaches): what comes back is the status code or a short reason.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import aiohttp
import structlog
from aiohttp.abc import AbstractResolver, ResolveResult

from wagate import netguard
from wagate.db import utcnow
from wagate.webhooks.outbox import GLOBAL_TARGET
from wagate.webhooks.repository import Claimed
from wagate.webhooks.retry import is_success, parse_retry_after
from wagate.webhooks.signing import SIGNATURE_HEADER, signature_header

log = structlog.get_logger(__name__)

# Enough of a receiver's answer to let the connection be reused.
MAX_BODY_READ = 64 * 1024
# What the operator may read of a receiver's answer (the global webhook's delivery log, the
# log line of a failed post): the start of it, printable characters only.
EXCERPT = 100
ADDRESS_NOT_ALLOWED = "address not allowed"
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
    # For the operator's log only: the start of the receiver's answer or the client's error.
    detail: str | None = None


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


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver for webhook posts: it answers only addresses that passed the guard,
    so the connection goes to exactly the address that was checked (no second lookup in
    between). aiohttp asks no resolver for an IP address in the URL: `Sender.post` checks
    those itself."""

    def __init__(self, allow_private: bool) -> None:
        self.allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_UNSPEC
    ) -> list[ResolveResult]:
        try:
            addresses = await netguard.checked_addresses(host, port, self.allow_private)
        except netguard.Refused as exc:
            raise _Refused(exc) from exc
        results: list[ResolveResult] = []
        for address in addresses:
            found = socket.AF_INET6 if ":" in address else socket.AF_INET
            if family in (socket.AF_UNSPEC, found):
                results.append(
                    {
                        "hostname": host,
                        "host": address,
                        "port": port,
                        "family": found,
                        "proto": 0,
                        "flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
                    }
                )
        if not results:
            raise _Refused(netguard.DoesNotResolve("the host does not resolve"))
        return results

    async def close(self) -> None:
        return None


class _Refused(OSError):
    """The guard's refusal, as the OSError aiohttp expects of a resolver (it wraps it into a
    ClientConnectorDNSError)."""

    def __init__(self, refusal: netguard.Refused) -> None:
        super().__init__(str(refusal))
        self.refusal = refusal


class Sender:
    """aiohttp's client rather than httpx: per post it costs about a third of the CPU
    (measured with bench/webhooks.py), and webhook delivery runs on the gateway's one event
    loop beside everything else. The session follows no redirects, keeps no cookies and
    sends no auth: a webhook goes to exactly its URL with exactly its headers.

    Two connection pools: instance webhooks go through the guard (unless
    `allow_private`), the global webhook (the operator's own, from the environment) does
    not; they share no connection, so one made for the global webhook is never reused for
    an instance's URL."""

    def __init__(self, timeout_s: float, max_connections: int, allow_private: bool) -> None:
        self.timeout = timeout_s
        self.allow_private = allow_private
        self._max_connections = max_connections
        self._sessions: dict[bool, aiohttp.ClientSession] = {}

    def _client(self, trusted: bool) -> aiohttp.ClientSession:
        # Made on first use: a ClientSession belongs to the running event loop.
        session = self._sessions.get(trusted)
        if session is None or session.closed:
            # A cached DNS answer is one the guard passed; after its TTL the next post
            # resolves and checks again (a host that now resolves to a private address fails).
            connector = aiohttp.TCPConnector(
                limit=self._max_connections,
                limit_per_host=0,
                ttl_dns_cache=60,
                resolver=GuardedResolver(trusted or self.allow_private),
            )
            session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=aiohttp.ClientTimeout(total=None),
                auto_decompress=False,
                skip_auto_headers=("Accept-Encoding",),
            )
            self._sessions[trusted] = session
        return session

    async def aclose(self) -> None:
        sessions = list(self._sessions.values())
        self._sessions.clear()
        for session in sessions:
            await session.close()

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
        trusted = item.target == GLOBAL_TARGET
        attempted_at = utcnow()
        started = time.perf_counter()
        status_code: int | None = None
        retry_after: float | None = None
        error: str | None = None
        detail: str | None = None
        try:
            # One bound on the whole try: check, connect, send, the answer's head and start.
            async with asyncio.timeout(self.timeout):
                if not (trusted or self.allow_private):
                    await _check_literal(item.url)
                async with self._client(trusted).post(
                    item.url, data=body, headers=headers, allow_redirects=False
                ) as response:
                    excerpt = await _read_some(response)
                    status_code = response.status
                    retry_after = parse_retry_after(response.headers.get("retry-after"))
            if not is_success(status_code):
                error = f"HTTP {status_code}"
                detail = excerpt or None
                if trusted and excerpt:
                    error += f": {excerpt}"
        except TimeoutError:
            status_code = None
            error = f"timed out after {self.timeout:g} s"
        except Exception as exc:  # a bad URL or a bug must fail this row, not the worker
            status_code = None
            error = _reason(exc)
            detail = _excerpt(f"{type(exc).__name__}: {exc}")
            if error == "error":
                log.warning("webhook post error", delivery=item.id, error=type(exc).__name__)
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
        return Attempt(
            item, attempted_at, status_code, error, duration_ms, retry_after, detail=detail
        )


async def _check_literal(url: str) -> None:
    """The guard for a URL whose host is an IP address (aiohttp connects to those without
    asking the resolver); a host name is checked by the resolver."""
    _, host, port = netguard.split_url(url)
    if netguard.is_ip_literal(host):
        await netguard.checked_addresses(host, port, allow_private=False)


def _reason(exc: BaseException) -> str:
    """What the caller may read of a failed post: a short reason, never the client's text
    (which can hold the address the URL resolved to)."""
    if isinstance(exc, aiohttp.ClientConnectorError) and isinstance(exc.os_error, _Refused):
        exc = exc.os_error.refusal
    if isinstance(exc, netguard.AddressNotAllowed):
        return ADDRESS_NOT_ALLOWED
    if isinstance(exc, netguard.DoesNotResolve | aiohttp.ClientConnectorDNSError):
        return "host not found"
    if isinstance(exc, netguard.BadUrl | aiohttp.InvalidURL):
        return "invalid URL"
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError):
        return "TLS error"
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, ConnectionRefusedError):
            return "connection refused"
        return "connection failed"
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError):
        return "connection lost"
    if isinstance(exc, aiohttp.ClientError):
        return "bad response"
    return "error"


def _excerpt(text: str) -> str:
    printable = "".join(c if c.isprintable() else " " for c in text)
    return " ".join(printable.split())[:EXCERPT]


async def _read_some(response: aiohttp.ClientResponse) -> str:
    """Read at most MAX_BODY_READ bytes of the answer; return a short, printable excerpt of
    its start. An answer that is longer is not read to its end: its connection is closed
    rather than reused."""
    received = await response.content.read(MAX_BODY_READ)
    return _excerpt(received[: EXCERPT * 4].decode("utf-8", "replace"))
