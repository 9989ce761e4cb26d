"""Contacts, chats and received media (API.md "Contacts and chats")."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated, Protocol
from urllib.parse import quote

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import RedirectResponse, StreamingResponse

from wagate.auth.dependencies import InstancePrincipal
from wagate.engines.actions import (
    CHAT_PRESENCE,
    CHECK_NUMBERS,
    MARK_READ,
    ChatPresenceRequest,
    CheckNumbersRequest,
    ReadRequest,
)
from wagate.errors import Gone, NotFound, ValidationFailed
from wagate.errors import error_responses as errors
from wagate.history.repository import queries as history
from wagate.holder import on_holder
from wagate.instances import service as instances
from wagate.media_store import MediaMissing, Presign
from wagate.messages import repository
from wagate.messages.ranges import byte_range
from wagate.messages.schemas import CheckIn, CheckOut, CheckResult, PresenceIn, ReadIn
from wagate.node import HasDb, HasManager, HasMediaStore, HasSendPolicy, HasSettings, get_node
from wagate.phones import InvalidRecipient, normalize_phone, to_jid


class ChatsNode(HasDb, HasManager, HasMediaStore, HasSendPolicy, HasSettings, Protocol):
    """What the contact and chat actions use of the node: the instance's row and its client,
    the media store that holds received media, and the send policy that paces checks."""


State = Annotated[ChatsNode, Depends(get_node)]
router = APIRouter(prefix="/v1/instances/{instance}", tags=["contacts and chats"])
ACTION_ERRORS = errors(404, 409, 502)


def chat_jid(chat: str) -> str:
    try:
        return to_jid(chat)
    except InvalidRecipient as exc:
        raise ValidationFailed.field("chat", str(exc)) from exc


@router.post("/contacts/check", response_model=CheckOut, responses=errors(404, 409, 429, 502))
@on_holder
async def check_contacts(
    instance: str, body: CheckIn, request: Request, state: State, _: InstancePrincipal
) -> CheckOut:
    digits = []
    for index, phone in enumerate(body.phones):
        try:
            digits.append(normalize_phone(phone))
        except InvalidRecipient as exc:
            raise ValidationFailed.field(f"phones.{index}", str(exc)) from exc
    check = CheckNumbersRequest(phones=digits)
    # WhatsApp watches bulk checks as it watches sends: the send policy counts each number.
    row = await instances.load(state, instance)
    await state.send_policy.admit_check(row.id, len(digits))
    found = await instances.run_action(state, request.scope, instance, CHECK_NUMBERS, check)
    return CheckOut(
        results=[
            CheckResult(phone=given, on_whatsapp=item.on_whatsapp, jid=item.jid)
            for given, item in zip(body.phones, found, strict=False)
        ]
    )


@router.post("/chats/{chat}/read", status_code=204, responses=ACTION_ERRORS)
@on_holder
async def mark_read(
    instance: str, chat: str, body: ReadIn, request: Request, state: State, _: InstancePrincipal
) -> Response:
    jid = chat_jid(chat)
    sender = None
    if body.sender is not None:
        try:
            sender = to_jid(body.sender)
        except InvalidRecipient as exc:
            raise ValidationFailed.field("sender", str(exc)) from exc
    read = ReadRequest(chat=jid, message_ids=list(body.message_ids), sender=sender)
    await instances.run_action(state, request.scope, instance, MARK_READ, read)
    return Response(status_code=204)


@router.post("/chats/{chat}/presence", status_code=204, responses=ACTION_ERRORS)
@on_holder
async def send_presence(
    instance: str,
    chat: str,
    body: PresenceIn,
    request: Request,
    state: State,
    _: InstancePrincipal,
) -> Response:
    presence = ChatPresenceRequest(chat=chat_jid(chat), state=body.state)
    await instances.run_action(state, request.scope, instance, CHAT_PRESENCE, presence)
    return Response(status_code=204)


# The bytes come with the media's own type; client generators only know how to read a body of
# "any type" as bytes when it is declared as application/octet-stream, so that comes first.
MEDIA_BYTES = {
    "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
    "*/*": {"schema": {"type": "string", "format": "binary"}},
}


@router.get(
    "/media/{message_id}",
    response_class=Response,
    responses={
        **errors(404, 410, 416),
        200: {"description": "the media bytes", "content": MEDIA_BYTES},
        206: {"description": "the range of the media bytes asked for", "content": MEDIA_BYTES},
        302: {"description": "a short-lived URL of the bytes in the S3 media store"},
    },
)
async def download_media(
    instance: str,
    message_id: str,
    state: State,
    _: InstancePrincipal,
    range_: Annotated[str | None, Header(alias="Range")] = None,
    redirect: Annotated[
        bool | None,
        Query(description="answer 302 to a presigned URL when the media store is S3"),
    ] = None,
) -> Response:
    row = await instances.load(state, instance)
    media = await kept_media(state, row.id, message_id)
    if media is None:
        raise NotFound(f"no media kept for message '{message_id}' (unknown or expired)")
    headers = media_headers(media.mimetype, media.filename)
    if media.key is None:
        raise Gone(f"the media of message '{message_id}' was not downloaded (yet) from WhatsApp")
    size = await state.media.size(media.key)
    if size is None:
        raise _gone(message_id)
    wants_redirect = state.settings.media_redirect if redirect is None else redirect
    if wants_redirect:
        url = await _presigned(state, media.key, headers)
        if url is not None:
            return RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})
    span = byte_range(range_, size)
    start, end = span if span is not None else (0, size - 1)
    # The whole file is read to its end (None): an empty one has no last byte to name.
    last = end if span is not None else None
    chunks = await _first_read(state, media.key, start, last, message_id)
    headers |= {"Accept-Ranges": "bytes", "Content-Length": str(end - start + 1)}
    if span is not None:
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return StreamingResponse(chunks, status_code=206 if span else 200, headers=headers)


@dataclass(frozen=True, slots=True)
class KeptMedia:
    key: str | None  # None: known, its bytes never fetched (a history message's failed download)
    mimetype: str
    filename: str | None


async def kept_media(state: ChatsNode, instance_id: int, message_id: str) -> KeptMedia | None:
    """A message's media: received (kept for WAGATE_MEDIA_RETENTION_S), else the history's
    reference (kept as long as its message)."""
    async with state.db.session() as session:
        received = await repository.received_media(session, instance_id, message_id)
        if received is not None:
            return KeptMedia(received.media_key, received.mimetype, received.filename)
        reference = await history.message_media(session, instance_id, message_id)
    if reference is None:
        return None
    mimetype = str(reference.get("mimetype") or "application/octet-stream")
    return KeptMedia(reference.get("key"), mimetype, reference.get("filename"))


def _gone(message_id: str) -> Gone:
    return Gone(f"the media of message '{message_id}' is no longer in the media store")


async def _presigned(state: ChatsNode, key: str, headers: dict[str, str]) -> str | None:
    presign = Presign(
        content_type=headers["Content-Type"],
        disposition=headers["Content-Disposition"],
        expires_s=state.settings.media_presign_s,
    )
    return await state.media.presigned_url(key, presign)


async def _first_read(
    state: ChatsNode, key: str, start: int, end: int | None, message_id: str
) -> AsyncIterator[bytes]:
    """The bytes start..end, the first chunk read already: an object that went missing since
    its size was read is a 410, not a response cut short."""
    reader = state.media.read(key, start, end)
    try:
        first = await anext(reader, b"")
    except MediaMissing as exc:
        raise _gone(message_id) from exc

    async def chunks() -> AsyncIterator[bytes]:
        if first:
            yield first
        async for chunk in reader:
            yield chunk

    return chunks()


# Shown in the browser (the dashboard previews them): types that run no script. Everything
# else, SVG and HTML first, is a download: a contact's file must not run on the dashboard's
# origin.
INLINE_TYPES = frozenset(
    {
        "image/jpeg",
        "image/png",
        "image/gif",
        "image/webp",
        "audio/ogg",
        "audio/mpeg",
        "audio/mp4",
        "audio/aac",
        "audio/amr",
        "audio/opus",
        "audio/wav",
        "audio/webm",
        "video/mp4",
        "video/3gpp",
        "video/webm",
        "video/quicktime",
    }
)
MIMETYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")


def media_headers(mimetype: str, filename: str | None) -> dict[str, str]:
    """The headers of received media: the sender chose both the type and the name."""
    kind = mimetype.split(";", 1)[0].strip().lower()
    if not MIMETYPE.fullmatch(kind):
        kind = "application/octet-stream"  # a type no header can carry as sent
    disposition = "inline" if kind in INLINE_TYPES else "attachment"
    if filename:
        disposition += "; " + content_disposition_filename(filename)
    return {
        "Content-Type": kind,
        "Content-Disposition": disposition,
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
    }


def content_disposition_filename(filename: str) -> str:
    """RFC 6266 parameters for a name in any script: an ASCII `filename` for old clients and
    `filename*` (RFC 5987, UTF-8) with the name itself. Headers are Latin-1: a Cyrillic, CJK or
    emoji name written as is cannot be sent at all."""
    # Strip accents where that keeps the letter (é -> e); any other non-ASCII becomes "_".
    decomposed = unicodedata.normalize("NFKD", filename)
    ascii_name = "".join(
        c if " " <= c <= "~" and c not in '"\\/' else "_"
        for c in decomposed
        if not unicodedata.combining(c)
    )
    ascii_name = ascii_name.strip(" .") or "file"
    encoded = quote(filename.replace("/", "_").replace("\\", "_"), safe="")
    return f"filename=\"{ascii_name}\"; filename*=UTF-8''{encoded}"
