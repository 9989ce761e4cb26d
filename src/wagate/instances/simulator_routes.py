"""The simulator's control routes (API.md "The simulator engine"). 404 for other engines.

They stand for the phone and the network around a simulator instance, and call down into the
simulator engine (wagate.engines.simulator), which knows no routes."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from wagate.auth.dependencies import InstancePrincipal
from wagate.db import utcnow
from wagate.engines.base import InboundMedia, InboundMessage, NotConnectedError, NotPairingError
from wagate.engines.simulator.engine import SimulatorClient, SimulatorEngine, outbox
from wagate.engines.simulator.network import new_message_id
from wagate.engines.simulator.presence import presence_of
from wagate.errors import (
    InstanceNotConnected,
    NotFound,
    NotPairing,
    ValidationFailed,
    error_responses,
)
from wagate.holder import on_holder
from wagate.instances import service
from wagate.message_kinds import VIEW_ONCE_KINDS, Kind
from wagate.models import Instance
from wagate.node import HasDb, HasManager, get_node
from wagate.phones import InvalidRecipient, normalize_phone, to_jid


class SimulatorNode(HasDb, HasManager, Protocol):
    """What the control routes use of the node: the instance's row, the simulator engine and
    the instance's client."""


State = Annotated[SimulatorNode, Depends(get_node)]
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


# The kinds a simulated contact can send: those with an entry in INBOUND below (no polls yet).
# Checked as a str: a Literal cannot be spelt from a table statically.
INBOUND_KINDS = (
    Kind.TEXT,
    Kind.IMAGE,
    Kind.VIDEO,
    Kind.AUDIO,
    Kind.DOCUMENT,
    Kind.STICKER,
    Kind.LOCATION,
    Kind.CONTACT,
    Kind.REACTION,
)
if TYPE_CHECKING:
    InboundKind = str
else:
    InboundKind = Literal[tuple(kind.value for kind in INBOUND_KINDS)]


class InboundIn(Strict):
    from_: str = Field(alias="from", min_length=1, max_length=128)
    kind: InboundKind = "text"
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
    view_once: bool = Field(False, description="a view-once photo, video or voice message")
    forwarded: bool = Field(False, description="the contact forwarded it")
    ephemeral: bool = Field(False, description="sent in a chat with disappearing messages on")
    push_name: str | None = Field(None, max_length=255, description="the sender's own name")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class InboundOut(BaseModel):
    message_id: str


class FaultsIn(Strict):
    send_latency_ms: int | None = Field(None, ge=0, le=600_000)
    fail_next: int | None = Field(None, ge=0, le=100_000)
    fail_kind: Literal["transient", "permanent", "rate_limited", "spam_suspected"] | None = Field(
        None,
        description="how the next sends fail: `rate_limited` and `spam_suspected` answer as "
        "WhatsApp does to a number it limits or flags",
    )
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


class PresenceItem(BaseModel):
    state: str
    sent_at: datetime


class PresenceOut(BaseModel):
    shown: str | None  # what contacts see: the last presence sent (None: never sent one)
    sent: list[PresenceItem]


async def _simulator(state: SimulatorNode, name: str) -> tuple[Instance, SimulatorEngine]:
    row = await service.load(state, name)
    engine = state.manager.engines.get("simulator")
    if row.engine != "simulator" or not isinstance(engine, SimulatorEngine):
        raise NotFound("simulator routes exist only for instances of the simulator engine")
    return row, engine


def _client(state: HasManager, name: str) -> SimulatorClient | None:
    client = state.manager.live_client(name)
    return client if isinstance(client, SimulatorClient) else None


@router.post("/scan", status_code=204)
@on_holder
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


# --- what each kind of simulated inbound message carries -----------------------------------


def _media(body: InboundIn) -> dict[str, Any]:
    if body.media is None:
        raise ValidationFailed.field("media", f"kind {body.kind} needs media")
    try:
        data = base64.b64decode(body.media.base64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValidationFailed.field("media.base64", "not valid base64") from exc
    return {"media": InboundMedia(data, body.media.mimetype, body.media.filename)}


def _text(body: InboundIn) -> dict[str, Any]:
    if not body.text:
        raise ValidationFailed.field("text", "a text message needs text")
    return {}


def _location(body: InboundIn) -> dict[str, Any]:
    if body.latitude is None or body.longitude is None:
        raise ValidationFailed.field("latitude", "a location needs latitude and longitude")
    return {"location": {"latitude": body.latitude, "longitude": body.longitude}}


def _reaction(body: InboundIn) -> dict[str, Any]:
    if not body.message_id or body.emoji is None:
        raise ValidationFailed.field("message_id", "a reaction needs message_id and emoji")
    return {"reaction": {"message_id": body.message_id, "emoji": body.emoji}}


def _as_given(body: InboundIn) -> dict[str, Any]:
    return {}


# One handler per kind of INBOUND_KINDS (tests/unit/test_message_kinds.py checks both agree):
# what the message carries, or a 422 naming what it lacks.
INBOUND: dict[Kind, Callable[[InboundIn], dict[str, Any]]] = {
    Kind.TEXT: _text,
    Kind.IMAGE: _media,
    Kind.VIDEO: _media,
    Kind.AUDIO: _media,
    Kind.DOCUMENT: _media,
    Kind.STICKER: _media,
    Kind.LOCATION: _location,
    Kind.CONTACT: _as_given,
    Kind.REACTION: _reaction,
}


def _inbound_message(body: InboundIn, sender: str) -> InboundMessage:
    content = INBOUND[Kind(body.kind)](body)
    if body.view_once and body.kind not in VIEW_ONCE_KINDS:
        raise ValidationFailed.field("view_once", f"kind {body.kind} cannot be view once")
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
        contacts=body.contacts,
        reply_to=body.reply_to,
        view_once=body.view_once,
        forwarded=body.forwarded,
        ephemeral=body.ephemeral,
        quoted={"message_id": body.reply_to} if body.reply_to else None,
        push_name=body.push_name,
        **content,
    )


@router.post("/inbound", response_model=InboundOut)
@on_holder
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
        await client.inbound(message)
    except NotConnectedError as exc:
        raise InstanceNotConnected(str(exc)) from exc
    return InboundOut(message_id=message.message_id)


@router.post("/faults", response_model=FaultsOut)
@on_holder
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


# --- a contact changes a message after the send ---------------------------------------------


class ContactChangeIn(Strict):
    from_: str = Field(alias="from", min_length=1, max_length=128)
    message_id: str = Field(min_length=1, max_length=128)
    chat: str | None = Field(None, description="group JID; default: the contact's chat")

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class ContactEditIn(ContactChangeIn):
    text: str = Field(min_length=1, max_length=65536)


class ContactVoteIn(ContactChangeIn):
    options: list[str] = Field(max_length=12, description="empty takes the vote back")


def _sender_and_chat(body: ContactChangeIn) -> tuple[str, str]:
    try:
        sender = to_jid(body.from_)
    except InvalidRecipient as exc:
        raise ValidationFailed.field("from", str(exc)) from exc
    try:
        chat = to_jid(body.chat) if body.chat else sender
    except InvalidRecipient as exc:
        raise ValidationFailed.field("chat", str(exc)) from exc
    return sender, chat


async def _connected(state: SimulatorNode, instance: str) -> SimulatorClient:
    await _simulator(state, instance)
    client = _client(state, instance)
    if client is None or not client.connected:
        raise InstanceNotConnected("the instance is not connected")
    return client


@router.post("/edit", status_code=204)
@on_holder
async def contact_edits(
    instance: str, body: ContactEditIn, state: State, _: InstancePrincipal
) -> Response:
    """A contact edits a message it sent the instance (message_edited)."""
    sender, chat = _sender_and_chat(body)
    client = await _connected(state, instance)
    await client.edits.contact_edits(sender, chat, body.message_id, body.text)
    return Response(status_code=204)


@router.post("/revoke", status_code=204)
@on_holder
async def contact_revokes(
    instance: str, body: ContactChangeIn, state: State, _: InstancePrincipal
) -> Response:
    """A contact deletes for everyone a message it sent the instance (message_revoked)."""
    sender, chat = _sender_and_chat(body)
    client = await _connected(state, instance)
    await client.edits.contact_revokes(sender, chat, body.message_id)
    return Response(status_code=204)


@router.post("/vote", status_code=204)
@on_holder
async def contact_votes(
    instance: str, body: ContactVoteIn, state: State, _: InstancePrincipal
) -> Response:
    """A contact votes in a poll of its chat (poll_vote)."""
    sender, chat = _sender_and_chat(body)
    client = await _connected(state, instance)
    await client.edits.contact_votes(sender, chat, body.message_id, list(body.options))
    return Response(status_code=204)


@router.get("/presence", response_model=PresenceOut)
@on_holder
async def get_presence(instance: str, state: State, _: InstancePrincipal) -> PresenceOut:
    """The presence the instance sent the simulated network (kept by the node holding it)."""
    row, engine = await _simulator(state, instance)
    sent = engine.presence_sent.get(row.id, [])
    return PresenceOut(
        shown=presence_of(sent),
        sent=[PresenceItem(state=state_, sent_at=at) for state_, at in sent],
    )
