"""The changes after the send through neonize: edit, revoke, forward, react, pin, vote.

The protobufs are built here by pure functions (tests build them against neonize's own
classes); the handlers send them through the linked client, each call bounded. A message is
found in the session's recent messages where its content or author is needed (forwarding,
a reaction's author): whatsmeow keeps no message history.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from neonize.builder import build_edit, build_revoke
from neonize.proto.Neonize_pb2 import MessageInfo, MessageSource
from neonize.proto.waCommon.WACommon_pb2 import MessageKey
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import (
    DocumentMessage,
    ImageMessage,
    Message,
    MessageContextInfo,
    PinInChatMessage,
    VideoMessage,
)

from wagate.engines.actions import (
    EDIT_MESSAGE,
    FORWARD_MESSAGE,
    PIN_MESSAGE,
    REACT,
    REVOKE_MESSAGE,
    VOTE,
    EditRequest,
    ForwardRequest,
    PinRequest,
    ReactRequest,
    RevokeRequest,
    VoteRequest,
    handle,
)
from wagate.engines.actions.spec import Handler
from wagate.engines.base import PermanentEngineError, SendResult
from wagate.engines.whatsmeow.jids import parse_jid
from wagate.engines.whatsmeow.mapping import to_datetime

if TYPE_CHECKING:
    from wagate.engines.whatsmeow.actions import Actions

# The content of an edit, by the edited message's kind: a media kind carries its new caption.
CAPTION_FIELDS = {
    "image": ("imageMessage", ImageMessage),
    "video": ("videoMessage", VideoMessage),
    "document": ("documentMessage", DocumentMessage),
}
# The fields of a waE2E.Message that carry a contextInfo (where "forwarded" is said).
FORWARDABLE = (
    "extendedTextMessage",
    "imageMessage",
    "videoMessage",
    "audioMessage",
    "documentMessage",
    "stickerMessage",
    "locationMessage",
    "contactMessage",
    "contactsArrayMessage",
)


def edited_content(kind: str, text: str) -> Any:
    if kind == "text":
        return Message(conversation=text)
    if kind not in CAPTION_FIELDS:
        raise PermanentEngineError(f"a {kind} message cannot be edited", code="not_editable")
    field, cls = CAPTION_FIELDS[kind]
    return Message(**{field: cls(caption=text)})


def build_edit_message(request: EditRequest) -> Any:
    return build_edit(
        parse_jid(request.chat), request.message_id, edited_content(request.kind, request.text)
    )


def build_revoke_message(request: RevokeRequest, me: str) -> Any:
    sender = request.sender or me
    return build_revoke(
        parse_jid(request.chat), parse_jid(sender), request.message_id, parse_jid(me)
    )


def build_forward(original: Any) -> Any:
    """A copy of the message, marked as forwarded (a plain text becomes an extended text, the
    one text message with a contextInfo)."""
    message = Message()
    message.CopyFrom(original)
    if message.conversation:
        message.extendedTextMessage.text = message.conversation
        message.ClearField("conversation")
    field = next((name for name in FORWARDABLE if message.HasField(name)), None)
    if field is None:
        raise PermanentEngineError("this kind of message cannot be forwarded", "not_supported")
    context = getattr(message, field).contextInfo
    context.isForwarded = True
    context.forwardingScore = context.forwardingScore + 1
    return message


def build_pin(request: PinRequest, from_me: bool, sender: str | None) -> Any:
    key = MessageKey(remoteJID=request.chat, fromMe=from_me, ID=request.message_id)
    if sender and request.chat.endswith("@g.us") and not from_me:
        key.participant = sender
    kind = PinInChatMessage.PIN_FOR_ALL if request.pin else PinInChatMessage.UNPIN_FOR_ALL
    pin = PinInChatMessage(key=key, type=kind, senderTimestampMS=int(time.time() * 1000))
    message = Message(pinInChatMessage=pin)
    if request.pin:
        message.messageContextInfo.CopyFrom(
            MessageContextInfo(messageAddOnDurationInSecs=request.duration_s)
        )
    return message


def poll_info(chat: str, message_id: str, sender: str, from_me: bool) -> Any:
    """The MessageInfo of a poll, as build_poll_vote wants it (whatsmeow finds the poll's
    secret by chat, sender and id)."""
    source = MessageSource(
        Chat=parse_jid(chat),
        Sender=parse_jid(sender),
        IsFromMe=from_me,
        IsGroup=chat.endswith("@g.us"),
    )
    return MessageInfo(ID=message_id, MessageSource=source)


def sent(response: Any) -> SendResult:
    return SendResult(message_id=str(response.ID), timestamp=to_datetime(int(response.Timestamp)))


class WhatsmeowEdits:
    def __init__(self, actions: Actions) -> None:
        self.actions = actions
        self.session = actions.session

    def _me(self) -> str:
        self.session.require_connected()  # not connected comes first: the caller may retry
        if not self.session.me:
            raise PermanentEngineError("the linked device is not known yet")
        return self.session.me

    def _author(self, chat: str, message_id: str, sender: str | None) -> tuple[str, bool]:
        """Who wrote the message, and whether it was this account."""
        me = self._me()
        quote = self.session.recent.get(message_id)
        author = sender or (quote.sender if quote else chat)
        return author, author.split("@")[0].split(":")[0] == me.split("@")[0].split(":")[0]

    async def _send(self, chat: str, message: Any, what: str) -> SendResult:
        client = self.session.require_connected()
        response = await self.actions.bounded(client.send_message(parse_jid(chat), message), what)
        return sent(response)

    async def edit(self, request: EditRequest) -> SendResult:
        return await self._send(request.chat, build_edit_message(request), "edit")

    async def revoke(self, request: RevokeRequest) -> SendResult:
        message = build_revoke_message(request, self._me())
        return await self._send(request.chat, message, "revoke")

    async def forward(self, request: ForwardRequest) -> SendResult:
        client = self.session.require_connected()
        quote = self.session.recent.get(request.message_id)
        if quote is None or quote.message is None:
            raise PermanentEngineError(
                f"message '{request.message_id}' is not among the device's recent messages",
                code="message_not_found",
            )
        await self.actions.check_recipient(client, request.to)
        return await self._send(request.to, build_forward(quote.message), "forward")

    async def react(self, request: ReactRequest) -> SendResult:
        client = self.session.require_connected()
        author, _ = self._author(request.chat, request.message_id, request.sender)
        build = client.build_reaction(
            parse_jid(request.chat), parse_jid(author), request.message_id, request.emoji
        )
        message = await self.actions.bounded(build, "building the reaction")
        return await self._send(request.chat, message, "react")

    async def pin(self, request: PinRequest) -> SendResult:
        author, from_me = self._author(request.chat, request.message_id, request.sender)
        return await self._send(request.chat, build_pin(request, from_me, author), "pin")

    async def vote(self, request: VoteRequest) -> SendResult:
        client = self.session.require_connected()
        author, from_me = self._author(request.chat, request.message_id, request.sender)
        info = poll_info(request.chat, request.message_id, author, from_me)
        build = client.build_poll_vote(info, list(request.options))
        message = await self.actions.bounded(build, "building the vote")
        return await self._send(request.chat, message, "vote")


def edits_handlers(actions: Actions) -> list[tuple[str, Handler]]:
    edits = WhatsmeowEdits(actions)
    return [
        handle(EDIT_MESSAGE, edits.edit),
        handle(REVOKE_MESSAGE, edits.revoke),
        handle(FORWARD_MESSAGE, edits.forward),
        handle(REACT, edits.react),
        handle(PIN_MESSAGE, edits.pin),
        handle(VOTE, edits.vote),
    ]
