"""Send routes and message records (API.md "Sending", "Message records")."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Protocol

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import ClientDisconnect

from wagate.auth.dependencies import InstancePrincipal
from wagate.errors import ApiError, NotFound, ValidationFailed, error_responses
from wagate.history.routes import router as history_router
from wagate.message_status import MessageStatus as Status
from wagate.message_status import shown
from wagate.messages import media as media_io
from wagate.messages import repository
from wagate.messages.chats import router as chats_router
from wagate.messages.dead_letters import router as dead_letters_router
from wagate.messages.openapi import send_request_body
from wagate.messages.prepare import Checked, Upload, check
from wagate.messages.schemas import (
    KINDS,
    MEDIA_KINDS,
    BatchIn,
    BatchOut,
    ForwardOut,
    MessageList,
    MessageOut,
    MessageStatus,
    QueuedOut,
    SentOut,
)
from wagate.messages.service import Answer, MessageService
from wagate.models import Message
from wagate.node import HasDb, HasMessaging, HasSettings, get_node
from wagate.paging import id_cursor


class SendNode(HasDb, HasMessaging, HasSettings, Protocol):
    """What the send and message routes use of the node."""


State = Annotated[SendNode, Depends(get_node)]
router = APIRouter(prefix="/v1/instances/{instance}", tags=["messages"])
SEND_ERRORS = error_responses(404, 409, 413, 502, 503, 504)
JSON_SLACK = 1024 * 1024  # the fields around a base64 media string
LIST_FIELDS = {"mentions"}
# Every field of a kind, plus `mentions` given as one part per mention (up to its 256).
MAX_FORM_FIELDS = 32 + 256


AsyncFlag = Annotated[bool, Query(alias="async", description="queue and answer 202 at once")]
IDEMPOTENCY_KEY_MAX = 255
IdempotencyKey = Annotated[
    str | None, Header(alias="Idempotency-Key", max_length=IDEMPOTENCY_KEY_MAX)
]


def service_of(state: HasMessaging) -> MessageService:
    assert state.messaging is not None
    return state.messaging.service


class _JSON(JSONResponse):
    """JSONResponse encoded by orjson: the same compact bytes, a fraction of the CPU."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def respond(answer: Answer) -> JSONResponse:
    return _JSON(answer.body, status_code=answer.status_code, headers=answer.headers)


def _json_limit(state: HasSettings) -> int:
    # base64 is 4/3 of the bytes it carries.
    return state.settings.max_media_bytes * 4 // 3 + JSON_SLACK


def _check_length(request: Request, limit: int) -> None:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise media_io.too_large(limit)


async def _limited_stream(request: Request, limit: int) -> Any:
    seen = 0
    async for chunk in request.stream():
        seen += len(chunk)
        if seen > limit:
            raise media_io.too_large(limit)
        yield chunk


async def _read_body(request: Request, limit: int) -> bytes:
    """The whole body, 413 as soon as it passes `limit`: straight from `receive`, without the
    async generators of `request.stream()` (a send's body comes in one message)."""
    body = bytearray()
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        body += message.get("body", b"")
        if len(body) > limit:
            raise media_io.too_large(limit)
        if not message.get("more_body", False):
            return bytes(body)


async def read_json(request: Request, limit: int) -> dict[str, Any]:
    _check_length(request, limit)
    raw = await _read_body(request, limit)
    try:
        payload = orjson.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed.field("body", f"not valid JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise ValidationFailed.field("body", "the body must be a JSON object")
    return payload


async def read_multipart(request: Request, limit: int) -> tuple[dict[str, Any], Upload | None]:
    _check_length(request, limit + JSON_SLACK)
    parser = MultiPartParser(
        request.headers,
        _limited_stream(request, limit + JSON_SLACK),
        max_files=1,
        max_fields=MAX_FORM_FIELDS,
    )
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise ValidationFailed.field("body", f"bad multipart body: {exc.message}") from exc
    payload: dict[str, Any] = {}
    upload: Upload | None = None
    try:
        for key, value in form.multi_items():
            if isinstance(value, UploadFile):
                if key != "file":
                    raise ValidationFailed.field(key, "the file goes in the part named 'file'")
                data = await value.read(limit + 1)
                if len(data) > limit:
                    raise media_io.too_large(limit)
                upload = Upload(data, value.content_type, value.filename)
            elif key in LIST_FIELDS:
                payload.setdefault(key, []).extend(v for v in value.split(",") if v.strip())
            else:
                payload[key] = value
    finally:
        await form.close()
    return payload, upload


async def read_send(
    request: Request, state: HasSettings, kind: str
) -> tuple[dict[str, Any], Upload | None]:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        return await read_multipart(request, state.settings.max_media_bytes)
    if content_type and not content_type.startswith("application/json"):
        raise ValidationFailed.field("body", "send application/json or multipart/form-data")
    return await read_json(request, _json_limit(state)), None


@router.post(
    "/send/batch",
    status_code=202,
    response_model=BatchOut,
    responses=error_responses(404, 413),
    summary="Queue up to 1,000 sends (always asynchronous)",
)
async def send_batch(
    instance: str,
    body: BatchIn,
    state: State,
    _: InstancePrincipal,
    async_: AsyncFlag = True,
) -> JSONResponse:
    items: list[Checked | ApiError] = []
    for index, item in enumerate(body.messages):
        fields = dict(item)
        kind = fields.pop("kind", None)
        try:
            if not isinstance(kind, str):
                raise ValidationFailed.field("kind", "every message needs a kind")
            items.append(check(kind, fields))
        except ApiError as exc:
            exc.details.setdefault("index", index)
            items.append(exc)
    results = await service_of(state).submit_batch(instance, items)
    return JSONResponse({"results": results}, status_code=202)


async def _send(
    instance: str,
    kind: str,
    request: Request,
    state: SendNode,
    idempotency_key: str | None,
    async_: bool,
) -> JSONResponse:
    service = service_of(state)
    await service.instance_ref(instance)
    payload, upload = await read_send(request, state, kind)
    checked = check(kind, payload, upload)
    answer = await service.submit(
        instance, checked, wait=not async_, idempotency_key=idempotency_key
    )
    return respond(answer)


def _send_route(kind: str) -> Callable[..., Awaitable[JSONResponse]]:
    async def endpoint(
        instance: str,
        request: Request,
        state: State,
        _: InstancePrincipal,
        idempotency_key: IdempotencyKey = None,
        async_: AsyncFlag = False,
    ) -> JSONResponse:
        return await _send(instance, kind, request, state, idempotency_key, async_)

    return endpoint


# One route per kind, so that the OpenAPI document gives each kind its own body schema.
for _kind in KINDS:
    router.add_api_route(
        f"/send/{_kind}",
        _send_route(_kind),
        methods=["POST"],
        name=f"send_{_kind}",
        response_model=SentOut,
        responses={**SEND_ERRORS, 202: {"model": QueuedOut, "description": "queued (async=true)"}},
        summary=f"Send a {_kind} message"
        + (" (JSON, or multipart/form-data with the part `file`)" if _kind in MEDIA_KINDS else ""),
        openapi_extra=send_request_body(_kind),
    )


@router.post("/send/{kind}", include_in_schema=False)
async def send(
    instance: str,
    kind: str,
    request: Request,
    state: State,
    _: InstancePrincipal,
    idempotency_key: IdempotencyKey = None,
    async_: AsyncFlag = False,
) -> JSONResponse:
    """Any other kind: 422 naming `kind` (the kinds themselves are the routes above)."""
    return await _send(instance, kind, request, state, idempotency_key, async_)


def message_out(
    row: Message, first_held: Row[int, str | None, datetime | None] | None = None
) -> MessageOut:
    """The record as the API shows it. `first_held`: the instance's first held message (see
    `repository.first_held`); a queued message after it that was queued after the hold was
    written shows that hold, as it waits behind it."""
    held_by, held_until = row.held_by, row.held_until
    if first_held is not None and _may_wait(row) and first_held.id < row.id:
        held_by, held_until = first_held.held_by, first_held.held_until
    return MessageOut(
        correlation_id=row.correlation_id,
        kind=row.kind,
        to=row.to,
        status=shown(row.status, row.delivered_at, row.read_at),
        message_id=row.message_id,
        error=row.error,
        attempts=row.attempts,
        created_at=row.created_at,
        updated_at=row.updated_at,
        sent_at=row.sent_at,
        edited_text=row.edited_text,
        edited_at=row.edited_at,
        revoked=row.revoked_for is not None,
        revoked_for=row.revoked_for,
        revoked_at=row.revoked_at,
        forwards=[ForwardOut(**item) for item in row.forwards or ()],
        held_until=held_until,
        held_by=held_by,
    )


def _may_wait(row: Message) -> bool:
    """Queued and not marked with a hold of its own."""
    return row.status == Status.QUEUED and row.held_until is None


async def _first_held(
    session: AsyncSession, instance_id: int, rows: Sequence[Message]
) -> Row[int, str | None, datetime | None] | None:
    """The instance's first held message, read only when a row may wait behind it."""
    if any(_may_wait(row) for row in rows):
        return await repository.first_held(session, instance_id)
    return None


@router.get("/messages/{correlation_id}", response_model=MessageOut, responses=error_responses(404))
async def get_message(
    instance: str, correlation_id: str, state: State, _: InstancePrincipal
) -> MessageOut:
    found = await service_of(state).instance_ref(instance)
    async with state.db.session() as session:
        row = await repository.get_by_correlation(session, found.id, correlation_id)
        if row is None:
            raise NotFound(f"message '{correlation_id}' not found")
        return message_out(row, await _first_held(session, found.id, [row]))


@router.get("/messages", response_model=MessageList, responses=error_responses(404))
async def list_messages(
    instance: str,
    state: State,
    _: InstancePrincipal,
    status: MessageStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=32)] = None,
) -> MessageList:
    found = await service_of(state).instance_ref(instance)
    before = None if cursor is None else id_cursor(cursor)
    async with state.db.session() as session:
        rows = await repository.list_messages(session, found.id, status, limit + 1, before)
        more = len(rows) > limit
        rows = rows[:limit]
        first_held = await _first_held(session, found.id, rows)
    return MessageList(
        messages=[message_out(row, first_held) for row in rows],
        next_cursor=str(rows[-1].id) if more and rows else None,
    )


# The history's routes first: its GET /messages/search must not be taken for a correlation id.
routers = [history_router, router, chats_router, dead_letters_router]
