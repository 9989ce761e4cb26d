"""Request limits: body size (cut off while reading), per-identity rate, slow request bodies.

Pure ASGI middleware, so an oversized or slow body is refused before any handler or
multipart parser buffers it. Both run inside the edge's authentication (wagate.auth.edge):
the rate is kept per authenticated identity, and no body is read for a request that is
refused there.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
from collections import OrderedDict
from typing import TYPE_CHECKING

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wagate.errors import error_body

if TYPE_CHECKING:
    from wagate.auth.dependencies import Principal

MAX_BUCKETS = 100_000  # distinct identities or addresses tracked per node (oldest forgotten first)
# The routes whose bodies carry media (base64 or multipart): they alone get the media-sized cap.
# `/mcp`: a send tool's media comes base64 in the tool call; the send it makes is held to
# the same limit again.
MEDIA_ROUTE = re.compile(
    r"^(/v1/instances/[^/]+/(send/[^/]+|simulator/inbound|profile/picture)|/mcp)$"
)


class TooLarge(Exception):
    pass


class TooSlow(Exception):
    pass


async def send_error(
    send: Send,
    status: int,
    code: str,
    message: str,
    headers: dict[str, str] | None = None,
    *,
    close: bool = False,
) -> None:
    """An API error answered by a middleware. `close`: the request's body is not (all) read,
    so the connection is closed rather than made to swallow what the client still sends."""
    body = json.dumps(error_body(code, message)).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    if close:
        raw.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def declares_body(scope: Scope) -> bool:
    """Whether the request says a body follows (a length over 0, or chunked)."""
    for key, value in scope["headers"]:
        if key == b"transfer-encoding" or (key == b"content-length" and value.strip() != b"0"):
            return True
    return False


def _too_large(limit: int) -> tuple[int, str, str]:
    return 413, "payload_too_large", f"the request body is over the limit of {limit} bytes"


class RequestLimitsMiddleware:
    """413 for bodies over the route's cap (declared or streamed): `media_body_bytes` on the
    routes that carry media, `max_body_bytes` on every other; 408 for a body that stalls
    longer than `body_timeout_s` between chunks or is not complete `body_deadline_s` after
    it was first asked for (until its last chunk: then nothing)."""

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        media_body_bytes: int,
        body_timeout_s: float,
        body_deadline_s: float,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.media_body_bytes = media_body_bytes
        self.body_timeout_s = body_timeout_s
        self.body_deadline_s = body_deadline_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        if scope["method"] == "POST" and MEDIA_ROUTE.match(scope["path"]):
            limit = self.media_body_bytes
        if _declares_over(scope, limit):
            await send_error(send, *_too_large(limit), close=True)
            return
        body = _LimitedBody(receive, send, limit, self.body_timeout_s, self.body_deadline_s)
        try:
            await self.app(scope, body.receive, body.send)
        except (TooLarge, TooSlow):
            if not body.started and body.tripped is not None:
                await send_error(send, *body.tripped, close=True)


def _declares_over(scope: Scope, limit: int) -> bool:
    """Whether a Content-Length header declares more than `limit` bytes."""
    for key, value in scope["headers"]:
        if key == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                declared = -1
            if declared > limit:
                return True
    return False


class _LimitedBody:
    """One request's receive and send as the app sees them: the body is counted against its
    cap and timed, and once one of them trips, the error goes out instead of the app's own
    answer."""

    def __init__(
        self, receive: Receive, send: Send, limit: int, timeout_s: float, deadline_s: float
    ) -> None:
        self._receive = receive
        self._send = send
        self.limit = limit
        self.timeout_s = timeout_s
        self.deadline_s = deadline_s
        self.received = 0
        self.complete = False
        self.started = False
        self.deadline: float | None = None
        self.tripped: tuple[int, str, str] | None = None

    async def receive(self) -> Message:
        if self.complete:
            # Past the body, receive() waits for the client to go (a live stream waits
            # as long as it is open): that is no stalled body.
            return await self._receive()
        loop = asyncio.get_running_loop()
        if self.deadline is None:
            self.deadline = loop.time() + self.deadline_s
        left = self.deadline - loop.time()
        try:
            # A deadline on the current task, not wait_for's new task per receive().
            async with asyncio.timeout(min(self.timeout_s, left)):
                message = await self._receive()
        except TimeoutError as exc:
            self.tripped = self._too_slow(left)
            raise TooSlow from exc
        if message["type"] == "http.request":
            self.complete = not message.get("more_body", False)
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                self.tripped = _too_large(self.limit)
                raise TooLarge
        return message

    def _too_slow(self, left: float) -> tuple[int, str, str]:
        if left <= self.timeout_s:
            return (
                408,
                "request_timeout",
                f"the request body did not arrive within {self.deadline_s:g} s",
            )
        return (408, "request_timeout", "the request body came too slowly")

    async def send(self, message: Message) -> None:
        if self.tripped is not None:
            # The app may catch our exception and answer something else (FastAPI turns
            # any error while reading a body into "error parsing the body"): the client
            # gets what really happened instead.
            if not self.started:
                self.started = True
                await send_error(self._send, *self.tripped, close=True)
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)


class TokenBuckets:
    """One token bucket per API token: `rate` requests per second, bursts up to `burst`."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str, now: float | None = None) -> float:
        """0 when allowed, else the seconds to wait before the next request is allowed."""
        now = time.monotonic() if now is None else now
        tokens, last = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - last) * self.rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self.rate
        self._buckets[key] = (tokens, now)
        if len(self._buckets) > MAX_BUCKETS:
            self._buckets.popitem(last=False)
        return wait

    def wait(self, key: str, now: float | None = None) -> float:
        """What `take` would answer, without taking anything."""
        found = self._buckets.get(key)
        if found is None:
            return 0.0
        now = time.monotonic() if now is None else now
        tokens = min(float(self.burst), found[0] + (now - found[1]) * self.rate)
        return 0.0 if tokens >= 1 else (1 - tokens) / self.rate


def retry_after(wait: float) -> dict[str, str]:
    return {"retry-after": str(max(1, math.ceil(wait)))}


class RateLimitMiddleware:
    """429 + Retry-After when an identity goes over its rate: one bucket per instance (all
    its tokens, old and rotated, count together) and one for the admin, which is exempt
    unless `limit_admin`. The identity is the one the edge authenticated (wagate.auth.edge,
    outside this): a header that names no valid token opens no bucket of its own. Requests
    the edge does not authenticate (outside /v1/) are not limited here."""

    def __init__(self, app: ASGIApp, buckets: TokenBuckets, limit_admin: bool) -> None:
        self.app = app
        self.buckets = buckets
        self.limit_admin = limit_admin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        principal: Principal | None = scope.get("state", {}).get("principal")
        if principal is None or (principal.is_admin and not self.limit_admin):
            await self.app(scope, receive, send)
            return
        key = "admin" if principal.is_admin else f"instance:{principal.instance_name}"
        wait = self.buckets.take(key)
        if wait > 0:
            await send_error(
                send,
                429,
                "rate_limited",
                "too many requests for this token; slow down",
                retry_after(wait),
                close=declares_body(scope),
            )
            return
        await self.app(scope, receive, send)
