"""Request limits: body size (cut off while reading), per-token rate, slow request bodies.

Pure ASGI middleware, so an oversized or slow body is refused before any handler or
multipart parser buffers it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
import time
from collections import OrderedDict
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from wagate.errors import error_body

MAX_BUCKETS = 100_000  # distinct tokens tracked per node (oldest forgotten first)


class TooLarge(Exception):
    pass


class TooSlow(Exception):
    pass


async def _send_error(
    send: Send, status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> None:
    body = json.dumps(error_body(code, message)).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class RequestLimitsMiddleware:
    """413 for bodies over `max_body_bytes` (declared or streamed), 408 for a body that
    stalls longer than `body_timeout_s` between chunks (until its last chunk: then nothing)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, body_timeout_s: float) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for key, value in scope["headers"]:
            if key == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = -1
                if declared > self.max_body_bytes:
                    await _send_error(
                        send,
                        413,
                        "payload_too_large",
                        f"the request body is over the limit of {self.max_body_bytes} bytes",
                    )
                    return
        received = 0
        body_complete = False
        started = False
        tripped: tuple[int, str, str] | None = None

        async def limited_receive() -> Message:
            nonlocal received, tripped, body_complete
            if body_complete:
                # Past the body, receive() waits for the client to go (a live stream waits
                # as long as it is open): that is no stalled body.
                return await receive()
            try:
                # A deadline on the current task, not wait_for's new task per receive().
                async with asyncio.timeout(self.body_timeout_s):
                    message = await receive()
            except TimeoutError as exc:
                tripped = (408, "request_timeout", "the request body came too slowly")
                raise TooSlow from exc
            if message["type"] == "http.request":
                body_complete = not message.get("more_body", False)
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    tripped = (
                        413,
                        "payload_too_large",
                        f"the request body is over the limit of {self.max_body_bytes} bytes",
                    )
                    raise TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if tripped is not None:
                # The app may catch our exception and answer something else (FastAPI turns
                # any error while reading a body into "error parsing the body"): the client
                # gets what really happened instead.
                if not started:
                    started = True
                    await _send_error(send, *tripped)
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except (TooLarge, TooSlow):
            if not started and tripped is not None:
                await _send_error(send, *tripped)


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


def _token(scope: Scope) -> str | None:
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    for key, value in headers:
        if key == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
        elif key == b"x-api-key" and value.strip():
            return value.decode("latin-1").strip()
    return None


class RateLimitMiddleware:
    """429 + Retry-After when a token goes over its rate. The admin token is exempt unless
    `limit_admin`; requests without a token are limited per client address."""

    def __init__(
        self, app: ASGIApp, buckets: TokenBuckets, admin_hash: Any, limit_admin: bool
    ) -> None:
        self.app = app
        self.buckets = buckets
        self.admin_hash = admin_hash  # callable returning the admin token hash (set at start)
        self.limit_admin = limit_admin

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        token = _token(scope)
        if token is None:
            client = scope.get("client") or ("unknown", 0)
            key = f"addr:{client[0]}"
        else:
            key = hashlib.sha256(token.encode()).hexdigest()
            if key == self.admin_hash() and not self.limit_admin:
                await self.app(scope, receive, send)
                return
        wait = self.buckets.take(key)
        if wait > 0:
            await _send_error(
                send,
                429,
                "rate_limited",
                "too many requests for this token; slow down",
                {"retry-after": str(max(1, math.ceil(wait)))},
            )
            return
        await self.app(scope, receive, send)
