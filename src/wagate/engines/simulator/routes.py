"""The simulator's control routes (API.md "The simulator engine"). 404 for other engines."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from wagate.auth.dependencies import InstancePrincipal
from wagate.db import utcnow
from wagate.engines.base import InboundMedia, InboundMessage, NotConnectedError, NotPairingError
from wagate.engines.simulator.engine import SimulatorClient, SimulatorEngine, new_message_id, outbox
from wagate.errors import (
    InstanceNotConnected,
    NotFound,
    NotPairing,
    ValidationFailed,
    error_responses,
)
from wagate.instances import service
from wagate.models import Instance
from wagate.phones import InvalidRecipient, normalize_phone, to_jid
from wagate.state import AppState, State

router = APIRouter(
    prefix="/v1/instances/{instance}/simulator",
    tags=["simulator"],
    responses=error_responses(404, 409),
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ScanIn(Strict):
    phone: str | None = Field(None, max_length=32)


MIMETYPE_PATTERN = r"^[\w.+-]+/[\w.+-]+(\s*;\s*[\w.+-]+=[\w.+\"-]+)*$"  # audio/ogg; codecs=opus
NO_CONTROL_CHARS = r"^[^\x00-\x1f\x7f]+$"


class InboundMediaIn(Strict):
    base64: str = Field(min_length=1)
    mimetype: str = Field(min_length=3, max_length=128, pattern=MIMETYPE_PATTERN)
    filename: str | None = Field(None, max_length=255, pattern=NO_CONTROL_CHARS)


class InboundIn(Strict):
    from_: str = Field(alias="from", min_length=1, max_length=128)
    kind: Literal[
        "text", "image", "video", "audio", "document", "sticker", "location", "contact", "reaction"
    ] = "text"
    text: str | None = Field(None, max_length=65536)
    caption: str | None = Field(None, max_length=4096)
    media: InboundMediaIn | None = None
    latitude: float | None = Field(None, ge=-90, le=90)
    longitude: float | None = Field(None, ge=-180, le=180)
    contacts: list[dict[str, Any]] | None = None
    message_id: str | None = Field(None, description="reacted-to message (kind reaction)")
    emoji: str | None = None
    reply_to: str | None = None
    chat: str | None = Field(None, description="group JID the message arrives in")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class InboundOut(BaseModel):
    message_id: str


class FaultsIn(Strict):
    send_latency_ms: int | None = Field(None, ge=0, le=600_000)
    fail_next: int | None = Field(None, ge=0, le=100_000)
    fail_kind: Literal["transient", "permanent"] | None = None
    disconnect: bool = False
    logout: bool = False


class FaultsOut(BaseModel):
    send_latency_ms: int
    fail_next: int
    fail_kind: str


class OutboxItem(BaseModel):
    message_id: str
    to: str
    kind: str
    body: dict[str, Any]
    sent_at: datetime


class OutboxOut(BaseModel):
    messages: list[OutboxItem]


async def _simulator(state: AppState, name: str) -> tuple[Instance, SimulatorEngine]:
    row = await service.load(state, name)
    engine = state.manager.engines.get("simulator")
    if row.engine != "simulator" or not isinstance(engine, SimulatorEngine):
        raise NotFound("simulator routes exist only for instances of the simulator engine")
    return row, engine


def _client(state: AppState, name: str) -> SimulatorClient | None:
    client = state.manager.live_client(name)
    return client if isinstance(client, SimulatorClient) else None


@router.post("/scan", status_code=204)
async def simulate_scan(
    instance: str, body: ScanIn, state: State, _: InstancePrincipal
) -> Response:
    await _simulator(state, instance)
    phone = None
    if body.phone:
        try:
            phone = normalize_phone(body.phone)
        except InvalidRecipient as exc:
            raise ValidationFailed.field("phone", str(exc)) from exc
    client = _client(state, instance)
    if client is None:
        raise NotPairing("the instance is not waiting for a scan; connect it first")
    try:
        await client.scan(phone)
    except NotPairingError as exc:
        raise NotPairing(str(exc)) from exc
    return Response(status_code=204)


def _inbound_message(body: InboundIn, sender: str) -> InboundMessage:
    media = _inbound_media(body)
    if body.kind == "text" and not body.text:
        raise ValidationFailed.field("text", "a text message needs text")
    location = _inbound_location(body)
    reaction = _inbound_reaction(body)
    chat = sender
    if body.chat:
        try:
            chat = to_jid(body.chat)
        except InvalidRecipient as exc:
            raise ValidationFailed.field("chat", str(exc)) from exc
    return InboundMessage(
        message_id=new_message_id(),
        chat=chat,
        sender=sender,
        from_me=False,
        timestamp=utcnow(),
        kind=body.kind,
        text=body.text,
        caption=body.caption,
        media=media,
        location=location,
        contacts=body.contacts,
        reaction=reaction,
        reply_to=body.reply_to,
    )


def _inbound_media(body: InboundIn) -> InboundMedia | None:
    if body.kind not in {"image", "video", "audio", "document", "sticker"}:
        return None
    if body.media is None:
        raise ValidationFailed.field("media", f"kind {body.kind} needs media")
    try:
        data = base64.b64decode(body.media.base64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValidationFailed.field("media.base64", "not valid base64") from exc
    return InboundMedia(data, body.media.mimetype, body.media.filename)


def _inbound_location(body: InboundIn) -> dict[str, Any] | None:
    if body.kind != "location":
        return None
    if body.latitude is None or body.longitude is None:
        raise ValidationFailed.field("latitude", "a location needs latitude and longitude")
    return {"latitude": body.latitude, "longitude": body.longitude}


def _inbound_reaction(body: InboundIn) -> dict[str, Any] | None:
    if body.kind != "reaction":
        return None
    if not body.message_id or body.emoji is None:
        raise ValidationFailed.field("message_id", "a reaction needs message_id and emoji")
    return {"message_id": body.message_id, "emoji": body.emoji}


@router.post("/inbound", response_model=InboundOut)
async def simulate_inbound(
    instance: str, body: InboundIn, state: State, _: InstancePrincipal
) -> InboundOut:
    await _simulator(state, instance)
    try:
        sender = to_jid(body.from_)
    except InvalidRecipient as exc:
        raise ValidationFailed.field("from", str(exc)) from exc
    message = _inbound_message(body, sender)
    client = _client(state, instance)
    if client is None or not client.connected:
        raise InstanceNotConnected("the instance is not connected")
    try:
        client.inbound(message)
    except NotConnectedError as exc:
        raise InstanceNotConnected(str(exc)) from exc
    return InboundOut(message_id=message.message_id)


@router.post("/faults", response_model=FaultsOut)
async def set_faults(
    instance: str, body: FaultsIn, state: State, _: InstancePrincipal
) -> FaultsOut:
    row, engine = await _simulator(state, instance)
    current = engine.faults_of(row.id)
    if body.send_latency_ms is not None:
        current.send_latency_ms = body.send_latency_ms
    if body.fail_next is not None:
        current.fail_next = body.fail_next
    if body.fail_kind is not None:
        current.fail_kind = body.fail_kind
    if body.disconnect or body.logout:
        client = _client(state, instance)
        if client is None or not client.connected:
            raise InstanceNotConnected("the instance is not connected")
        try:
            if body.logout:
                await client.unlink_from_phone()
            else:
                client.drop_connection()
        except NotConnectedError as exc:
            raise InstanceNotConnected(str(exc)) from exc
    return FaultsOut(
        send_latency_ms=current.send_latency_ms,
        fail_next=current.fail_next,
        fail_kind=current.fail_kind,
    )


@router.get("/outbox", response_model=OutboxOut)
async def get_outbox(instance: str, state: State, _: InstancePrincipal) -> OutboxOut:
    row, _engine = await _simulator(state, instance)
    items = await outbox(state.db, row.id, limit=10_000)
    return OutboxOut(
        messages=[
            OutboxItem(
                message_id=item.message_id,
                to=item.to,
                kind=item.kind,
                body=item.body,
                sent_at=item.sent_at,
            )
            for item in items
        ]
    )
