"""Instance routes (API.md "Instances")."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from wagate.auth.dependencies import (
    AdminPrincipal,
    CurrentPrincipal,
    InstancePrincipal,
    bearer_token,
)
from wagate.auth.tokens import hash_token
from wagate.engines.status import Status
from wagate.errors import Forbidden, RateLimited, Unauthorized, error_responses
from wagate.events.bus import ADMIN_OWNER, Event, Resumed, TooManyStreams
from wagate.holder import on_holder
from wagate.instances import repository, service
from wagate.instances.schemas import (
    CreatedInstance,
    CreateInstance,
    InstanceList,
    InstanceOut,
    PairIn,
    PairOut,
    PatchInstance,
    QrOut,
    StatusOut,
    TokenOut,
)
from wagate.instances.service import InstancesNode
from wagate.node import get_node
from wagate.paging import id_cursor

State = Annotated[InstancesNode, Depends(get_node)]
router = APIRouter(prefix="/v1/instances", tags=["instances"])
ERRORS = error_responses(403, 404)
LIFECYCLE_ERRORS = error_responses(403, 404, 409, 502)
# How soon an EventSource reconnects after the server ended its stream (lifetime reached):
# soon, but not at once, so a fleet of clients ended together does not come back in a burst.
RECONNECT_MS = 3000
# The most instances one page of the list holds (the dead letters' limit).
PAGE_MAX = 1000


@router.post(
    "", status_code=201, response_model=CreatedInstance, responses=error_responses(403, 409)
)
async def create_instance(body: CreateInstance, state: State, _: AdminPrincipal) -> CreatedInstance:
    row, token = await service.create(state, body)
    return CreatedInstance(**service.to_out(row).model_dump(), token=token)


@router.get("", response_model=InstanceList, responses=error_responses(403, 404, 422))
async def list_instances(
    state: State,
    principal: CurrentPrincipal,
    status: Status | None = None,
    limit: Annotated[int, Query(ge=1, le=PAGE_MAX)] = 100,
    cursor: Annotated[str | None, Query(max_length=32)] = None,
) -> InstanceList:
    page = repository.InstancePage(
        limit=limit,
        after=0 if cursor is None else id_cursor(cursor),
        status=None if status is None else status.value,
        name=None if principal.is_admin else principal.instance_name,
    )
    async with state.db.session() as session:
        rows = await repository.list_page(session, page)
    more = len(rows) > limit
    rows = rows[:limit]
    return InstanceList(
        instances=[service.to_out(row) for row in rows],
        next_cursor=str(rows[-1].id) if more and rows else None,
    )


@router.get("/{instance}", response_model=InstanceOut, responses=ERRORS)
async def get_instance(instance: str, state: State, _: InstancePrincipal) -> InstanceOut:
    return service.to_out(await service.load(state, instance))


@router.patch("/{instance}", response_model=InstanceOut, responses=ERRORS)
@on_holder
async def patch_instance(
    instance: str, body: PatchInstance, state: State, _: InstancePrincipal
) -> InstanceOut:
    return service.to_out(await service.patch_settings(state, instance, body.settings))


@router.delete("/{instance}", status_code=204, responses=ERRORS)
@on_holder
async def delete_instance(instance: str, state: State, principal: AdminPrincipal) -> Response:
    await service.delete(state, instance)
    return Response(status_code=204)


@router.post("/{instance}/token", response_model=TokenOut, responses=ERRORS)
async def rotate_token(instance: str, state: State, _: InstancePrincipal) -> TokenOut:
    return TokenOut(token=await service.rotate_token(state, instance))


@router.post(
    "/{instance}/connect", status_code=202, response_model=StatusOut, responses=LIFECYCLE_ERRORS
)
@on_holder
async def connect_instance(instance: str, state: State, _: InstancePrincipal) -> StatusOut:
    return StatusOut(status=await service.lifecycle(state, instance, "connect"))


@router.post("/{instance}/disconnect", response_model=StatusOut, responses=LIFECYCLE_ERRORS)
@on_holder
async def disconnect_instance(instance: str, state: State, _: InstancePrincipal) -> StatusOut:
    return StatusOut(status=await service.lifecycle(state, instance, "disconnect"))


@router.post("/{instance}/logout", response_model=StatusOut, responses=LIFECYCLE_ERRORS)
@on_holder
async def logout_instance(instance: str, state: State, _: InstancePrincipal) -> StatusOut:
    return StatusOut(status=await service.lifecycle(state, instance, "logout"))


@router.post(
    "/{instance}/restart", status_code=202, response_model=StatusOut, responses=LIFECYCLE_ERRORS
)
@on_holder
async def restart_instance(instance: str, state: State, _: InstancePrincipal) -> StatusOut:
    return StatusOut(status=await service.lifecycle(state, instance, "restart"))


@router.get(
    "/{instance}/qr",
    response_model=QrOut,
    responses={
        **LIFECYCLE_ERRORS,
        200: {"content": {"image/png": {}}, "description": "JSON, or the PNG itself"},
    },
)
async def get_qr(instance: str, request: Request, state: State, _: InstancePrincipal) -> Response:
    code, expires_at = await service.current_qr(state, instance)
    accept = request.headers.get("accept", "")
    if "image/png" in accept and "application/json" not in accept:
        return Response(
            service.qr_png(code),
            media_type="image/png",
            headers={"Cache-Control": "no-store", "X-Qr-Expires-At": expires_at.isoformat()},
        )
    body = service.qr_body(code, expires_at)
    return Response(
        body.model_dump_json(), media_type="application/json", headers={"Cache-Control": "no-store"}
    )


@router.post("/{instance}/pair", response_model=PairOut, responses=LIFECYCLE_ERRORS)
@on_holder
async def pair_phone(instance: str, body: PairIn, state: State, _: InstancePrincipal) -> PairOut:
    return PairOut(code=await service.pair(state, instance, body.phone))


def _sse(item: Event) -> str:
    data = json.dumps(item.envelope(), separators=(",", ":"), ensure_ascii=False)
    return f"id: {item.id}\nevent: {item.event}\ndata: {data}\n\n"


@router.get(
    "/{instance}/events",
    responses={**ERRORS, **error_responses(429), 200: {"content": {"text/event-stream": {}}}},
)
async def stream_events(
    instance: str, request: Request, state: State, principal: InstancePrincipal
) -> StreamingResponse:
    settings = state.settings
    # Which token opened the stream: its slot counts against that token, and a rotation of an
    # instance token ends the streams it opened.
    owner = ADMIN_OWNER if principal.is_admin else hash_token(bearer_token(request) or "")
    # Subscribed before the response starts, so every event after the request reaches the
    # client; the response removes the subscriber however it ends (see _EventStream).
    subscription = state.bus.subscribe(instance, owner, settings.sse_max_streams_per_token)
    try:
        queue = await subscription.__aenter__()
    except TooManyStreams:
        raise RateLimited(
            f"this token already has {settings.sse_max_streams_per_token} event streams open "
            "on this server, the most allowed: close one before opening another"
        ) from None
    try:
        # Read after subscribing: a token rotated (or an instance deleted) before this read is
        # seen here, and one after it ends this subscriber, on whichever node it happened.
        row = await service.load(state, instance)
        if not principal.can_access(row.name):
            raise Forbidden("not allowed")
        if owner != ADMIN_OWNER and row.token_hash != owner:
            raise Unauthorized("invalid token")
    except BaseException:
        await subscription.__aexit__(None, None, None)
        raise
    # The current status first, so a client knows where it starts from; `retry` tells
    # an EventSource how soon to reconnect when the server ends the stream.
    greeting = f"retry: {RECONNECT_MS}\n: connected to {instance} (status {row.status})\n\n"
    # A reconnecting EventSource sends the id of the last event it got: what came after it
    # (still in this node's window) goes first.
    last_id = request.headers.get("last-event-id") or None
    resumed = state.bus.recent.resume(last_id, (instance,))
    if resumed.gap:
        greeting += f": events after {last_id} are no longer here: some may be missed\n\n"
    events = _event_lines(
        queue, greeting, resumed, settings.sse_keepalive_s, settings.sse_max_lifetime_s
    )
    return _EventStream(
        events,
        lambda: subscription.__aexit__(None, None, None),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


async def _event_lines(
    queue: asyncio.Queue[Event | None],
    greeting: str,
    resumed: Resumed,
    keepalive_s: float,
    lifetime_s: float,
) -> AsyncIterator[str]:
    """The stream's text: the greeting, the events it resumes with, then each event, a
    comment line when none came for `keepalive_s`, and an end once the stream is closed or
    `lifetime_s` is over."""
    loop = asyncio.get_running_loop()
    ends_at = loop.time() + lifetime_s
    yield greeting
    for missed in resumed.missed:
        yield _sse(missed)
    while True:
        left = ends_at - loop.time()
        if left <= 0:
            yield ": stream lifetime reached; reconnect\n\n"
            return
        try:
            item = await asyncio.wait_for(queue.get(), min(keepalive_s, left))
        except TimeoutError:
            if loop.time() < ends_at:
                yield ": keep-alive\n\n"
            continue
        if item is None:
            yield ": stream closed\n\n"
            return
        if resumed.fresh(item):
            yield _sse(item)


class _EventStream(StreamingResponse):
    """A StreamingResponse that runs `on_close` when it ends, whatever way: a `finally` in the
    body generator does not run when the client is gone before the generator's first step
    (it never starts), which left the subscriber queue behind."""

    def __init__(
        self,
        content: AsyncIterator[str],
        on_close: Callable[[], Awaitable[object]],
        **kwargs: Any,
    ) -> None:
        super().__init__(content, **kwargs)
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._on_close()
