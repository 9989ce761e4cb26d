"""After the send: edit, revoke, forward, react, read, pin and vote (API.md "After the send").

Wagate's own sends are named by their correlation id (and the change is recorded on their
record); any message of a chat by the chat and its WhatsApp message id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, Protocol

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.auth.dependencies import InstancePrincipal
from wagate.db import utcnow
from wagate.engine_failures import PermanentEngineError
from wagate.engines.actions import (
    EDIT_MESSAGE,
    FORWARD_MESSAGE,
    MARK_READ,
    PIN_MESSAGE,
    REACT,
    REVOKE_MESSAGE,
    VOTE,
    EditRequest,
    ForwardRequest,
    PinRequest,
    ReactRequest,
    ReadRequest,
    RevokeRequest,
    VoteRequest,
)
from wagate.engines.actions.edits import EDIT_WINDOW, EDITABLE_KINDS
from wagate.errors import ApiError, NotFound, ValidationFailed
from wagate.errors import error_responses as errors
from wagate.events.bus import isoformat
from wagate.events.payloads import MessageAckData, MessageEditedData, MessageRevokedData
from wagate.history.repository import store as history
from wagate.holder import on_holder
from wagate.instances import service as instances
from wagate.message_status import MessageStatus
from wagate.messages import repository
from wagate.messages.chats import chat_jid
from wagate.messages.outcomes import Outcome
from wagate.messages.routes import message_out, service_of
from wagate.messages.schemas import (
    ActionOut,
    EditIn,
    ForwardIn,
    MessageAuthor,
    MessageOut,
    PinIn,
    ReactIn,
    VoteIn,
)
from wagate.models import Instance, Message
from wagate.node import HasBus, HasDb, HasManager, HasMessaging, get_node
from wagate.phones import InvalidRecipient, to_jid


class EditsNode(HasDb, HasManager, HasBus, HasMessaging, Protocol):
    """What the changes after the send use of the node: the instance's row and client, the
    message records, the bus for the events, the sends' outcomes."""


State = Annotated[EditsNode, Depends(get_node)]
router = APIRouter(prefix="/v1/instances/{instance}", tags=["messages"])
ACTION_ERRORS = errors(404, 409, 422, 502)
DELIVERED = frozenset({MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ})
# How long a revoke waits for a send a worker has in hand to finish.
SENDING_WAIT_S = 10.0


class MessageNotSent(ApiError):
    status_code, code = 409, "message_not_sent"


class MessageRevoked(ApiError):
    status_code, code = 409, "message_revoked"


class MessageSending(ApiError):
    status_code, code = 409, "message_sending"


def _jid(value: str, field: str) -> str:
    try:
        return to_jid(value)
    except InvalidRecipient as exc:
        raise ValidationFailed.field(field, str(exc)) from exc


def _sender(body: MessageAuthor | None) -> str | None:
    return None if body is None or body.sender is None else _jid(body.sender, "sender")


async def _own(state: EditsNode, instance: str, correlation_id: str) -> tuple[Instance, Message]:
    row = await instances.load(state, instance)
    async with state.db.session() as session:
        message = await repository.get_by_correlation(session, row.id, correlation_id)
    if message is None:
        raise NotFound(f"message '{correlation_id}' not found")
    return row, message


def _sent(message: Message) -> str:
    """The WhatsApp id of a send that reached WhatsApp and was not revoked."""
    if message.revoked_for == "everyone":
        raise MessageRevoked("the message was deleted for everyone")
    if message.status not in DELIVERED or not message.message_id:
        raise MessageNotSent(f"the message is {message.status}, not sent")
    return message.message_id


async def _update(state: EditsNode, message: Message, **values: Any) -> Message:
    async with state.db.transaction() as session:
        await repository.set_fields(session, message.id, **values)
        await _keep_in_history(session, message, values)
        found = await repository.get_by_correlation(
            session, message.instance_id, message.correlation_id
        )
    assert found is not None
    return found


async def _keep_in_history(session: AsyncSession, message: Message, values: dict[str, Any]) -> None:
    """The history's copy of the send reads as edited, or loses its words when revoked for
    everyone, as the record does (a deletion for this device only leaves the chat as it is)."""
    if not message.message_id:
        return
    if "edited_text" in values:
        await history.mark_edited(
            session,
            message.instance_id,
            message.message_id,
            values["edited_text"],
            values["edited_at"],
        )
    elif values.get("revoked_for") == "everyone":
        await history.mark_revoked(
            session, message.instance_id, message.message_id, values["revoked_at"]
        )


async def _change_event(
    state: EditsNode, row: Instance, message: Message, event: str, at: datetime, text: str = ""
) -> None:
    common = {
        "message_id": message.message_id or "",
        "chat": message.to_jid,
        "from_": row.jid or "",
        "from_me": True,
        "timestamp": isoformat(at),
        "correlation_id": message.correlation_id,
    }
    data = (
        MessageEditedData(text=text, **common)
        if event == "message_edited"
        else MessageRevokedData(**common)
    )
    await state.bus.publish(row.name, row.id, data)


@router.patch("/messages/{correlation_id}", response_model=MessageOut, responses=ACTION_ERRORS)
@on_holder
async def edit_message(
    instance: str,
    correlation_id: str,
    body: EditIn,
    request: Request,
    state: State,
    _: InstancePrincipal,
) -> MessageOut:
    row, message = await _own(state, instance, correlation_id)
    message_id = _sent(message)
    if message.kind not in EDITABLE_KINDS:
        raise PermanentEngineError(f"a {message.kind} message cannot be edited", "not_editable")
    if message.sent_at is not None and utcnow() - message.sent_at > EDIT_WINDOW:
        raise PermanentEngineError(
            "WhatsApp's edit window (15 minutes) has passed", code="edit_window_passed"
        )
    edit = EditRequest(message.to_jid, message_id, body.text, message.kind)
    result = await instances.run_action(state, request.scope, instance, EDIT_MESSAGE, edit)
    message = await _update(state, message, edited_text=body.text, edited_at=result.timestamp)
    await _change_event(state, row, message, "message_edited", result.timestamp, body.text)
    return message_out(message)


async def _cancel(state: EditsNode, row: Instance, message: Message) -> bool:
    """Cancel a send still queued: final, never sent, one message_ack. False when a worker
    has it in hand already."""
    async with state.db.transaction() as session:
        if not await repository.cancel_queued(session, message.id):
            return False
        await repository.set_fields(session, message.id, revoked_at=utcnow(), revoked_for="me")
    ack = MessageAckData(
        correlation_id=message.correlation_id, status="cancelled", attempts=message.attempts
    )
    await state.bus.publish(row.name, row.id, ack)
    message.status = MessageStatus.CANCELLED
    service_of(state).outcomes.resolve(Outcome.of(message))
    return True


async def _settled(state: EditsNode, row: Instance, message: Message) -> Message:
    """The message once no worker has it in hand: cancelled if it was still queued, else its
    final outcome (a send in progress is waited for)."""
    if message.status == MessageStatus.QUEUED and await _cancel(state, row, message):
        return message
    if message.status in (MessageStatus.QUEUED, MessageStatus.SENDING):
        await service_of(state).outcomes.wait(message.correlation_id, SENDING_WAIT_S)
    _, message = await _own(state, row.name, message.correlation_id)
    if message.status in (MessageStatus.QUEUED, MessageStatus.SENDING):
        raise MessageSending("the message is being sent; try again in a moment")
    return message


@router.delete("/messages/{correlation_id}", response_model=MessageOut, responses=ACTION_ERRORS)
@on_holder
async def revoke_message(
    instance: str,
    correlation_id: str,
    request: Request,
    state: State,
    _: InstancePrincipal,
    for_: Annotated[
        Literal["everyone", "me"],
        Query(alias="for", description="everyone: revoke; me: delete on this device only"),
    ] = "everyone",
) -> MessageOut:
    row, message = await _own(state, instance, correlation_id)
    message = await _settled(state, row, message)
    if message.status == MessageStatus.CANCELLED or message.revoked_for == "everyone":
        return message_out(message)  # revoked already, or never sent
    if message.status == MessageStatus.FAILED or not message.message_id:
        raise MessageNotSent("the message failed; there is nothing to delete")
    if for_ == "me":
        return message_out(await _update(state, message, revoked_at=utcnow(), revoked_for="me"))
    revoke = RevokeRequest(message.to_jid, message.message_id)
    result = await instances.run_action(state, request.scope, instance, REVOKE_MESSAGE, revoke)
    message = await _update(state, message, revoked_at=result.timestamp, revoked_for="everyone")
    await _change_event(state, row, message, "message_revoked", result.timestamp)
    return message_out(message)


def _action_out(result: Any) -> ActionOut:
    return ActionOut(message_id=result.message_id, timestamp=result.timestamp)


CHAT_MESSAGE = "/chats/{chat}/messages/{message_id}"


@router.post(CHAT_MESSAGE + "/forward", response_model=ActionOut, responses=ACTION_ERRORS)
@on_holder
async def forward_message(
    instance: str,
    chat: str,
    message_id: str,
    body: ForwardIn,
    request: Request,
    state: State,
    _: InstancePrincipal,
) -> ActionOut:
    row = await instances.load(state, instance)
    forward = ForwardRequest(chat_jid(chat), message_id, _jid(body.to, "to"))
    result = await instances.run_action(state, request.scope, instance, FORWARD_MESSAGE, forward)
    async with state.db.transaction() as session:
        own = await repository.sent_message(session, row.id, message_id)
        if own is not None:
            item = {
                "to": forward.to,
                "message_id": result.message_id,
                "at": isoformat(result.timestamp),
            }
            forwards = [*(own.forwards or []), item]
            await repository.set_fields(session, own.id, forwards=forwards)
    return _action_out(result)


@router.post(CHAT_MESSAGE + "/react", response_model=ActionOut, responses=ACTION_ERRORS)
@on_holder
async def react_to_message(
    instance: str,
    chat: str,
    message_id: str,
    body: ReactIn,
    request: Request,
    state: State,
    _: InstancePrincipal,
) -> ActionOut:
    reaction = ReactRequest(chat_jid(chat), message_id, body.emoji, _sender(body))
    return _action_out(await instances.run_action(state, request.scope, instance, REACT, reaction))


@router.post(CHAT_MESSAGE + "/read", status_code=204, responses=ACTION_ERRORS)
@on_holder
async def read_message(
    instance: str,
    chat: str,
    message_id: str,
    request: Request,
    state: State,
    _: InstancePrincipal,
    body: MessageAuthor | None = None,
) -> Response:
    read = ReadRequest(chat_jid(chat), [message_id], _sender(body))
    await instances.run_action(state, request.scope, instance, MARK_READ, read)
    row = await instances.load(state, instance)
    async with state.db.transaction() as session:
        await history.mark_chat_read(session, row.id, read.chat)
    return Response(status_code=204)


@router.post(CHAT_MESSAGE + "/pin", response_model=ActionOut, responses=ACTION_ERRORS)
@on_holder
async def pin_message(
    instance: str,
    chat: str,
    message_id: str,
    body: PinIn,
    request: Request,
    state: State,
    _: InstancePrincipal,
) -> ActionOut:
    pin = PinRequest(chat_jid(chat), message_id, body.pin, body.duration_s, _sender(body))
    return _action_out(await instances.run_action(state, request.scope, instance, PIN_MESSAGE, pin))


def _options(body: VoteIn) -> list[str]:
    if len(set(body.options)) != len(body.options):
        raise ValidationFailed.field("options", "an option is chosen twice")
    return list(body.options)


@router.post(CHAT_MESSAGE + "/vote", response_model=ActionOut, responses=ACTION_ERRORS)
@on_holder
async def vote_in_poll(
    instance: str,
    chat: str,
    message_id: str,
    body: VoteIn,
    request: Request,
    state: State,
    _: InstancePrincipal,
) -> ActionOut:
    ballot = VoteRequest(chat_jid(chat), message_id, _options(body), _sender(body))
    return _action_out(await instances.run_action(state, request.scope, instance, VOTE, ballot))


@router.post("/polls/{correlation_id}/vote", response_model=ActionOut, responses=ACTION_ERRORS)
@on_holder
async def vote_own_poll(
    instance: str,
    correlation_id: str,
    body: VoteIn,
    request: Request,
    state: State,
    _: InstancePrincipal,
) -> ActionOut:
    _row, message = await _own(state, instance, correlation_id)
    if message.kind != "poll":
        raise PermanentEngineError(f"message '{correlation_id}' is not a poll", "not_a_poll")
    ballot = VoteRequest(message.to_jid, _sent(message), _options(body))
    return _action_out(await instances.run_action(state, request.scope, instance, VOTE, ballot))
