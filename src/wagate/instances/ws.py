"""The live events over a WebSocket (docs/events.md "WebSocket"): the same live streams and
envelopes as SSE, one JSON text message an event.

The token comes in the `Authorization` (or `X-Api-Key`) header, or, for a client that cannot
set headers (a browser), in the first message: never in the URL, where logs and proxies keep
it. A stream resumes after `last_event_id` from the node's window of recent events. Its events
wait in a bounded buffer: a client that falls a whole buffer behind is disconnected (4008)
rather than the node holding its backlog. Close codes: CLOSE_CODES.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from wagate.auth.dependencies import AuthNode, Principal
from wagate.auth.edge import authenticate_socket
from wagate.auth.tokens import hash_token, token_from_headers
from wagate.errors import (
    ApiError,
    Forbidden,
    NotFound,
    RateLimited,
    Unauthorized,
    ValidationFailed,
    error_body,
)
from wagate.events.bus import ADMIN_OWNER, EVERY_INSTANCE, EndReason, Event, Resumed, TooManyStreams
from wagate.events.payloads import PAYLOADS
from wagate.instances import service
from wagate.instances.service import InstancesNode

router = APIRouter(tags=["events"])

# Close codes past the protocol's own (1000-1015), each with what it means to a client.
CLOSE_CODES: dict[str, int] = {
    "ended": 4000,  # ended by the server (token rotated, logout, deletion, lifetime): reconnect
    "too_slow": 4008,  # the client fell a whole send buffer behind
    "validation_error": 4400,  # a malformed first message or query
    "unauthorized": 4401,  # no token (in time), or a wrong one
    "forbidden": 4403,  # an instance token on the admin's stream
    "not_found": 4404,  # no such instance (or not this token's)
    "rate_limited": 4429,  # too many streams for this token, or failed authentications
    "shutdown": 1001,  # the node stops: reconnect (to another node)
}
_ON_END: dict[EndReason, tuple[str, str]] = {
    "overflow": ("too_slow", "too slow: the client fell a whole send buffer behind"),
    "ended": ("ended", "stream ended (token rotated, logged out or instance deleted)"),
    "gone": ("ended", "stream ended: the instance was deleted"),
    "shutdown": ("shutdown", "server shutting down"),
}


class EventsSocketNode(AuthNode, InstancesNode, Protocol):
    """What the WebSocket streams use of the node."""


@dataclass(slots=True)
class Opening:
    """What the client asked for: its token, where to resume, which events."""

    token: str | None
    last_event_id: str | None
    events: frozenset[str] = field(default_factory=frozenset)


@router.websocket("/v1/events/ws")
async def every_instance_events(websocket: WebSocket) -> None:
    """The admin's stream of every instance's events, or of the `instance` ones named."""
    await _serve(websocket, None)


@router.websocket("/v1/instances/{instance}/events/ws")
async def instance_events(websocket: WebSocket, instance: str) -> None:
    await _serve(websocket, instance)


async def _serve(websocket: WebSocket, instance: str | None) -> None:
    state: EventsSocketNode = websocket.app.state.wagate
    await websocket.accept()
    try:
        opening = await _opening(websocket, state)
        principal = await authenticate_socket(websocket.scope, state, opening.token)
        await _stream(websocket, state, principal, opening, instance)
    except WebSocketDisconnect:
        return
    except ApiError as exc:
        await _refuse(websocket, exc)


async def _opening(websocket: WebSocket, state: EventsSocketNode) -> Opening:
    query = websocket.query_params
    if "token" in query or "access_token" in query:
        raise ValidationFailed("a token in the URL is refused: send it in a header or first")
    events = frozenset(query.getlist("event"))
    unknown = sorted(events - PAYLOADS.keys())
    if unknown:
        raise ValidationFailed(f"unknown event types: {', '.join(unknown)}")
    opening = Opening(
        token=token_from_headers(websocket.scope["headers"]),
        last_event_id=query.get("last_event_id") or None,
        events=events,
    )
    if opening.token is not None:
        return opening
    try:
        message = await asyncio.wait_for(websocket.receive(), state.settings.ws_auth_timeout_s)
    except TimeoutError:
        raise Unauthorized('missing token: send {"token": ...} first') from None
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    first = _json_object(message.get("text"))
    token, last_id = first.get("token"), first.get("last_event_id", opening.last_event_id)
    if not isinstance(token, str) or not token:
        raise Unauthorized('missing token: the first message has no "token"')
    if last_id is not None and not isinstance(last_id, str):
        raise ValidationFailed("last_event_id must be a string")
    return Opening(token=token, last_event_id=last_id or None, events=opening.events)


def _json_object(text: str | None) -> dict[str, Any]:
    """A client's text message as a JSON object (a binary message or anything else: 4400)."""
    try:
        found = json.loads(text) if text is not None else None
    except ValueError:
        found = None
    if not isinstance(found, dict):
        raise ValidationFailed("the first message must be a JSON object")
    return found


def _keys(websocket: WebSocket, principal: Principal, instance: str | None) -> tuple[str, ...]:
    if instance is not None:
        if not principal.can_access(instance):
            raise NotFound(f"instance '{instance}' not found")
        return (instance,)
    if not principal.is_admin:
        raise Forbidden("this route needs the admin token")
    named = tuple(dict.fromkeys(websocket.query_params.getlist("instance")))
    return named or (EVERY_INSTANCE,)


async def _stream(
    websocket: WebSocket,
    state: EventsSocketNode,
    principal: Principal,
    opening: Opening,
    instance: str | None,
) -> None:
    keys = _keys(websocket, principal, instance)
    settings = state.settings
    owner = ADMIN_OWNER if principal.is_admin else hash_token(opening.token or "")
    try:
        subscription = state.bus.subscribe(
            keys, owner, settings.sse_max_streams_per_token, settings.ws_send_buffer
        )
        async with subscription as queue:
            greeting: dict[str, Any] = {"type": "connected"}
            if instance is not None:
                # Read after subscribing, as SSE does: a token rotated (or an instance deleted)
                # before this read is seen here, and one after it ends this subscriber.
                row = await service.load(state, instance)
                if owner != ADMIN_OWNER and row.token_hash != owner:
                    raise Unauthorized("invalid token")
                greeting.update(instance=instance, status=row.status)
            stream = _Stream(websocket, queue, state.bus.streams.why_ended, opening.events)
            await stream.send(greeting)
            instances = None if keys == (EVERY_INSTANCE,) else keys
            resumed = state.bus.recent.resume(opening.last_event_id, instances)
            await stream.resume(resumed, opening.last_event_id)
            await stream.run(settings.sse_keepalive_s, settings.sse_max_lifetime_s)
    except TooManyStreams:
        raise RateLimited(
            f"this token already has {settings.sse_max_streams_per_token} event streams open "
            "on this server, the most allowed: close one before opening another"
        ) from None


class _Stream:
    """One open stream: its sends (one at a time), its reader of the client's messages."""

    def __init__(
        self,
        websocket: WebSocket,
        queue: asyncio.Queue[Event | None],
        why_ended: Callable[[asyncio.Queue[Event | None]], EndReason | None],
        events: frozenset[str],
    ) -> None:
        self.websocket = websocket
        self.queue = queue
        self.why_ended = why_ended
        self.events = events
        self.resumed = Resumed([])
        self._lock = asyncio.Lock()

    async def send(self, message: dict[str, Any]) -> None:
        text = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
        async with self._lock:
            await self.websocket.send_text(text)

    async def send_event(self, item: Event) -> None:
        if not self.events or item.event in self.events:
            await self.send(item.envelope())

    async def resume(self, resumed: Resumed, last_id: str | None) -> None:
        self.resumed = resumed
        if resumed.gap:
            # Not in the window (too old, or seen on another node): say so, then go live.
            await self.send({"type": "gap", "last_event_id": last_id})
        for item in resumed.missed:
            await self.send_event(item)

    async def run(self, keepalive_s: float, lifetime_s: float) -> None:
        """Until the client leaves (the reader ends) or the server ends the stream (the
        writer does): then the other one stops too."""
        tasks = (
            asyncio.create_task(self._read()),
            asyncio.create_task(self._write(keepalive_s, lifetime_s)),
        )
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            outcomes = await asyncio.gather(*tasks, return_exceptions=True)
        for outcome in outcomes:
            # A client gone mid-send is the end of the stream, not an error.
            if isinstance(outcome, Exception) and not isinstance(outcome, WebSocketDisconnect):
                raise outcome

    async def _read(self) -> None:
        """The client's messages: a `{"type": "ping"}` is answered with a pong (for clients,
        such as browsers, that cannot send protocol pings); others are ignored."""
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text and '"ping"' in text and _is_ping(text):
                await self.send({"type": "pong"})

    async def _write(self, keepalive_s: float, lifetime_s: float) -> None:
        loop = asyncio.get_running_loop()
        ends_at = loop.time() + lifetime_s
        while True:
            left = ends_at - loop.time()
            if left <= 0:
                await self._close("ended", "stream lifetime reached; reconnect")
                return
            try:
                item = await asyncio.wait_for(self.queue.get(), min(keepalive_s, left))
            except TimeoutError:
                await self.send({"type": "ping"})
                continue
            why = self.why_ended(self.queue)
            if item is None or why == "overflow":
                # Cut off for being slow: closed at once, not after the backlog it has.
                code, reason = _ON_END[why or "ended"]
                await self._close(code, reason)
                return
            if self.resumed.fresh(item):
                await self.send_event(item)

    async def _close(self, code: str, reason: str) -> None:
        async with self._lock:
            await self.websocket.close(CLOSE_CODES[code], reason)


def _is_ping(text: str) -> bool:
    try:
        found = json.loads(text)
    except ValueError:
        return False
    return isinstance(found, dict) and found.get("type") == "ping"


async def _refuse(websocket: WebSocket, error: ApiError) -> None:
    """The error in the API's body, then the close code of its kind."""
    if websocket.application_state != WebSocketState.CONNECTED:
        return
    code = CLOSE_CODES.get(error.code, CLOSE_CODES["validation_error"])
    body = {"type": "error", **error_body(error.code, error.message, error.details)}
    with contextlib.suppress(Exception):
        await websocket.send_text(json.dumps(body, separators=(",", ":")))
        await websocket.close(code, error.message[:120])
