"""The changes after the send as neonize's own protobufs (built), and received edits, revokes,
poll votes, forwarded/ephemeral/quoted messages (hand-built neonize events, mapped)."""

from __future__ import annotations

import hashlib
from typing import Any

from neonize.proto.waCommon.WACommon_pb2 import MessageKey
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import (
    ContextInfo,
    ExtendedTextMessage,
    FutureProofMessage,
    ImageMessage,
    Message,
    PinInChatMessage,
    PollCreationMessage,
    PollUpdateMessage,
    ProtocolMessage,
)

from tests.unit.test_whatsmeow_mapping import PHONE, Fakes, message_event, run
from wagate.engines.actions import EditRequest, PinRequest, RevokeRequest
from wagate.engines.base import MessageEdited, MessageRevoked
from wagate.engines.whatsmeow import edits, mapping

CHAT = "5511987654321@s.whatsapp.net"
ME = "4915112345678@s.whatsapp.net"


def test_edit_is_a_protocol_message_edit_of_the_text_or_caption() -> None:
    built = edits.build_edit_message(EditRequest(CHAT, "3EB0AA", "fixed"))
    assert isinstance(built, Message)
    protocol = built.editedMessage.message.protocolMessage
    assert protocol.type == ProtocolMessage.MESSAGE_EDIT
    assert protocol.key.ID == "3EB0AA" and protocol.key.fromMe
    assert protocol.editedMessage.conversation == "fixed"
    caption = edits.build_edit_message(EditRequest(CHAT, "3EB0AB", "new caption", "image"))
    edited = caption.editedMessage.message.protocolMessage.editedMessage
    assert edited.imageMessage.caption == "new caption"


def test_revoke_names_the_message_and_who_wrote_it() -> None:
    built = edits.build_revoke_message(RevokeRequest(CHAT, "3EB0AA"), ME)
    assert built.protocolMessage.type == ProtocolMessage.REVOKE
    assert built.protocolMessage.key.ID == "3EB0AA" and built.protocolMessage.key.fromMe
    group = "120363012345678901@g.us"
    theirs = edits.build_revoke_message(RevokeRequest(group, "3EB0AC", CHAT), ME)
    assert not theirs.protocolMessage.key.fromMe
    assert theirs.protocolMessage.key.participant == CHAT


def test_forward_marks_a_copy_as_forwarded() -> None:
    original = Message(conversation="look")
    built = edits.build_forward(original)
    assert built.extendedTextMessage.text == "look"
    assert built.extendedTextMessage.contextInfo.isForwarded
    assert built.extendedTextMessage.contextInfo.forwardingScore == 1
    assert original.conversation == "look"  # the remembered message is left as it was
    again = edits.build_forward(built)
    assert again.extendedTextMessage.contextInfo.forwardingScore == 2
    image = edits.build_forward(Message(imageMessage=ImageMessage(caption="c")))
    assert image.imageMessage.contextInfo.isForwarded


def test_pin_and_unpin() -> None:
    pin = edits.build_pin(PinRequest(CHAT, "3EB0AA", True, 86400), True, ME)
    assert pin.pinInChatMessage.type == PinInChatMessage.PIN_FOR_ALL
    assert pin.pinInChatMessage.key.ID == "3EB0AA" and pin.pinInChatMessage.key.fromMe
    assert pin.messageContextInfo.messageAddOnDurationInSecs == 86400
    unpin = edits.build_pin(PinRequest(CHAT, "3EB0AA", False), False, CHAT)
    assert unpin.pinInChatMessage.type == PinInChatMessage.UNPIN_FOR_ALL
    assert not unpin.HasField("messageContextInfo")


def test_poll_info_for_build_poll_vote() -> None:
    info = edits.poll_info(CHAT, "3EB0PO", ME, True)
    assert info.ID == "3EB0PO" and info.MessageSource.IsFromMe
    assert info.MessageSource.Chat.User == "5511987654321"
    assert info.MessageSource.Sender.User == "4915112345678"


async def change(content: Any, **source: Any) -> Any:
    return await mapping.message_change(message_event(content, **source), Fakes().resolve)


async def test_received_edit_and_revoke() -> None:
    edit = Message(
        editedMessage=FutureProofMessage(
            message=Message(
                protocolMessage=ProtocolMessage(
                    key=MessageKey(ID="3EB0OLD", fromMe=False),
                    type=ProtocolMessage.MESSAGE_EDIT,
                    editedMessage=Message(conversation="changed"),
                )
            )
        )
    )
    mapped = await change(edit)
    assert isinstance(mapped, MessageEdited)
    assert (mapped.message_id, mapped.text, mapped.sender) == ("3EB0OLD", "changed", CHAT)
    assert not mapped.from_me
    revoke = Message(
        protocolMessage=ProtocolMessage(key=MessageKey(ID="3EB0OLD"), type=ProtocolMessage.REVOKE)
    )
    revoked = await change(revoke, IsFromMe=True)
    assert isinstance(revoked, MessageRevoked) and revoked.from_me
    assert await change(Message(conversation="plain")) is None
    # a protocol message is no inbound message
    assert await run(message_event(revoke)) is None


async def test_poll_vote_names_the_chosen_options() -> None:
    poll = Message(
        pollCreationMessage=PollCreationMessage(
            name="Lunch?",
            options=[
                PollCreationMessage.Option(optionName="pizza"),
                PollCreationMessage.Option(optionName="sushi"),
            ],
        )
    )
    options = mapping.poll_options(poll)
    assert options == ["pizza", "sushi"]
    vote = Message(
        pollUpdateMessage=PollUpdateMessage(pollCreationMessageKey=MessageKey(ID="3EB0POLL"))
    )
    event = message_event(vote, sender=PHONE)
    assert mapping.poll_key(event) == "3EB0POLL"
    selected = [hashlib.sha256(b"sushi").digest()]
    mapped = await mapping.poll_vote(event, Fakes().resolve, selected, options)
    assert mapped.options == ["sushi"] and mapped.poll_message_id == "3EB0POLL"
    assert mapped.voter == CHAT and mapped.chat == CHAT


async def test_forwarded_ephemeral_and_quoted() -> None:
    reply = Message(
        extendedTextMessage=ExtendedTextMessage(
            text="yes",
            contextInfo=ContextInfo(
                stanzaID="3EB0Q",
                participant=CHAT,
                quotedMessage=Message(conversation="lunch?"),
                isForwarded=True,
                expiration=86400,
            ),
        )
    )
    mapped = await run(message_event(reply))
    assert mapped.forwarded and mapped.ephemeral
    assert mapped.quoted == {"message_id": "3EB0Q", "from": CHAT, "kind": "text", "text": "lunch?"}
    plain = await run(message_event(Message(conversation="hi")))
    assert not plain.forwarded and not plain.ephemeral and plain.quoted is None
