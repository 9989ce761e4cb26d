"""neonize's event protobufs, built and parsed as neonize delivers them, through our mapping."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from neonize.aioze.events import (
    CallOfferEv,
    ConnectFailureEv,
    LoggedOutEv,
    MessageEv,
    ReceiptEv,
    TemporaryBanEv,
)
from neonize.proto.Neonize_pb2 import (
    BasicCallMeta,
    MessageInfo,
    MessageSource,
)
from neonize.proto.Neonize_pb2 import ConnectFailureReason as REASON
from neonize.proto.waCommon.WACommon_pb2 import MessageKey
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import (
    ContactMessage,
    ContactsArrayMessage,
    ContextInfo,
    DocumentMessage,
    ExtendedTextMessage,
    FutureProofMessage,
    ImageMessage,
    LocationMessage,
    Message,
    PollCreationMessage,
    ReactionMessage,
    StickerMessage,
)
from neonize.utils.jid import build_jid

from wagate.engines.base import ConnectFailed, ConnectionLost, InboundMedia, LoggedOut
from wagate.engines.whatsmeow import mapping

PHONE = build_jid("5511987654321")
LID = build_jid("123456789012345", "lid")
GROUP = build_jid("120363012345678901", "g.us")
WHEN = 1_767_225_600  # 2026-01-01T00:00:00Z


def delivered(event: Any) -> Any:
    """The event as neonize hands it over: Go fills every required field, then Python parses."""

    def fill(message: Any) -> None:
        for field in message.DESCRIPTOR.fields:
            if field.message_type is not None and field.is_repeated:
                for item in getattr(message, field.name):
                    fill(item)
            elif field.message_type is not None:
                if field.is_required or message.HasField(field.name):
                    fill(getattr(message, field.name))
                    getattr(message, field.name).SetInParent()
            elif field.is_required and not message.HasField(field.name):
                setattr(message, field.name, field.default_value)

    fill(event)
    return type(event).FromString(event.SerializeToString())


def message_event(content: Any, *, sender: Any = PHONE, chat: Any = None, **source: Any) -> Any:
    """A MessageEv as neonize parses it from the Go side's bytes."""
    event = MessageEv(
        Info=MessageInfo(
            MessageSource=MessageSource(
                Chat=chat if chat is not None else sender,
                Sender=sender,
                IsFromMe=source.pop("IsFromMe", False),
                IsGroup=source.pop("IsGroup", False),
                **source,
            ),
            ID="3EB0INBOUND",
            Timestamp=WHEN,
            Type="text",
            Pushname="Alice",
        ),
        Message=content,
    )
    return delivered(event)


class Fakes:
    def __init__(self, resolved: Any = None, data: bytes | None = b"MEDIA") -> None:
        self.resolved = resolved
        self.data = data
        self.downloads: list[Any] = []
        self.lookups: list[Any] = []

    async def resolve(self, jid: Any) -> Any:
        self.lookups.append(jid)
        return self.resolved

    async def download(self, message: Any) -> bytes | None:
        self.downloads.append(message)
        return self.data


async def run(event: Any, fakes: Fakes | None = None, limit: int = 1000) -> Any:
    fakes = fakes or Fakes()
    return await mapping.inbound_message(event, fakes.resolve, fakes.download, limit)


async def test_text_conversation_and_extended_reply() -> None:
    plain = await run(message_event(Message(conversation="hello")))
    assert plain.kind == "text" and plain.text == "hello"
    assert plain.message_id == "3EB0INBOUND" and plain.chat == "5511987654321@s.whatsapp.net"
    assert plain.sender == plain.chat and not plain.from_me
    assert plain.timestamp == datetime(2026, 1, 1, tzinfo=UTC) and plain.reply_to is None
    assert plain.push_name == "Alice"  # the sender's own name, for the contacts of the history

    reply = await run(
        message_event(
            Message(
                extendedTextMessage=ExtendedTextMessage(
                    text="answer", contextInfo=ContextInfo(stanzaID="3EB0ORIGINAL")
                )
            )
        )
    )
    assert reply.text == "answer" and reply.reply_to == "3EB0ORIGINAL"


async def test_timestamps_in_milliseconds_are_understood() -> None:
    assert mapping.to_datetime(WHEN * 1000) == mapping.to_datetime(WHEN)


async def test_image_with_caption_is_downloaded() -> None:
    fakes = Fakes(data=b"\x89PNG...")
    event = message_event(
        Message(imageMessage=ImageMessage(caption="look", mimetype="image/png", fileLength=8))
    )
    inbound = await run(event, fakes)
    assert inbound.kind == "image" and inbound.caption == "look"
    assert inbound.media == InboundMedia(b"\x89PNG...", "image/png", None)
    assert fakes.downloads[0].imageMessage.caption == "look"  # the inner waE2E.Message


async def test_oversized_media_is_announced_not_fetched() -> None:
    fakes = Fakes()
    event = message_event(
        Message(imageMessage=ImageMessage(mimetype="image/jpeg", fileLength=5000))
    )
    inbound = await run(event, fakes, limit=1000)
    assert inbound.kind == "image" and inbound.media is None and not fakes.downloads


async def test_wrapped_document_sticker() -> None:
    document = Message(
        documentWithCaptionMessage=FutureProofMessage(
            message=Message(
                documentMessage=DocumentMessage(
                    fileName="r.pdf", mimetype="application/pdf", caption="Q3"
                )
            )
        )
    )
    inbound = await run(message_event(document))
    assert inbound.kind == "document" and inbound.caption == "Q3"
    assert inbound.media.filename == "r.pdf" and inbound.media.mimetype == "application/pdf"
    ephemeral_sticker = Message(
        ephemeralMessage=FutureProofMessage(
            message=Message(stickerMessage=StickerMessage(mimetype="image/webp"))
        )
    )
    sticker = await run(message_event(ephemeral_sticker))
    assert sticker.kind == "sticker" and sticker.media.mimetype == "image/webp"


async def test_view_once_flag_and_wrapper() -> None:
    flagged = Message(imageMessage=ImageMessage(mimetype="image/jpeg", viewOnce=True))
    wrapped = Message(
        viewOnceMessageV2=FutureProofMessage(
            message=Message(imageMessage=ImageMessage(mimetype="image/jpeg"))
        )
    )
    plain = Message(imageMessage=ImageMessage(mimetype="image/jpeg"))
    assert (await run(message_event(flagged))).view_once is True
    assert (await run(message_event(wrapped))).view_once is True
    assert (await run(message_event(plain))).view_once is False


async def test_location_contacts_reaction_poll() -> None:
    location = await run(
        message_event(
            Message(
                locationMessage=LocationMessage(
                    degreesLatitude=-6.2, degreesLongitude=106.8, name="Monas"
                )
            )
        )
    )
    assert location.kind == "location"
    assert location.location == {"latitude": -6.2, "longitude": 106.8, "name": "Monas"}

    card = (
        "BEGIN:VCARD\nVERSION:3.0\nFN:Bob\n"
        "TEL;type=CELL;waid=14155550100:+1 415-555-0100\nEND:VCARD"
    )
    contact = await run(
        message_event(Message(contactMessage=ContactMessage(displayName="Bob", vcard=card)))
    )
    assert contact.kind == "contact"
    assert contact.contacts == [{"name": "Bob", "phone": "14155550100", "vcard": card}]
    no_waid = "BEGIN:VCARD\nFN:Carol\nTEL:+55 11 90000-0000\nEND:VCARD"
    several = await run(
        message_event(
            Message(
                contactsArrayMessage=ContactsArrayMessage(
                    contacts=[
                        ContactMessage(vcard=no_waid),
                        ContactMessage(displayName="Bob", vcard=card),
                    ]
                )
            )
        )
    )
    assert [(c["name"], c["phone"]) for c in several.contacts] == [
        ("Carol", "5511900000000"),
        ("Bob", "14155550100"),
    ]

    reaction = await run(
        message_event(
            Message(reactionMessage=ReactionMessage(key=MessageKey(ID="3EB0MINE"), text="❤️"))
        )
    )
    assert reaction.kind == "reaction"
    assert reaction.reaction == {"message_id": "3EB0MINE", "emoji": "❤️"}

    poll = await run(
        message_event(
            Message(
                pollCreationMessage=PollCreationMessage(
                    name="Lunch?",
                    options=[
                        PollCreationMessage.Option(optionName="Pizza"),
                        PollCreationMessage.Option(optionName="Sushi"),
                    ],
                    selectableOptionsCount=1,
                )
            )
        )
    )
    assert poll.kind == "poll"
    assert poll.poll == {"question": "Lunch?", "options": ["Pizza", "Sushi"], "selectable_count": 1}


async def test_lid_sender_resolved_to_phone() -> None:
    # SenderAlt known: used without asking whatsmeow.
    fakes = Fakes()
    with_alt = await run(
        message_event(Message(conversation="x"), sender=LID, SenderAlt=PHONE), fakes
    )
    assert with_alt.sender == "5511987654321@s.whatsapp.net" and not fakes.lookups
    assert with_alt.chat == "5511987654321@s.whatsapp.net"  # a 1:1 chat is its other side
    # No alt: the LID store is asked.
    fakes = Fakes(resolved=build_jid("5511000000002"))
    looked_up = await run(message_event(Message(conversation="x"), sender=LID), fakes)
    assert looked_up.sender == "5511000000002@s.whatsapp.net" and fakes.lookups
    # Unknown: the @lid JID as delivered.
    unknown = await run(message_event(Message(conversation="x"), sender=LID), Fakes())
    assert unknown.sender == "123456789012345@lid"


async def test_group_message_keeps_group_chat() -> None:
    inbound = await run(
        message_event(Message(conversation="hey all"), sender=PHONE, chat=GROUP, IsGroup=True)
    )
    assert inbound.chat == "120363012345678901@g.us"
    assert inbound.sender == "5511987654321@s.whatsapp.net"


async def test_protocol_messages_are_skipped() -> None:
    assert await run(message_event(Message())) is None


def test_receipts() -> None:
    def receipt_event(kind: int) -> Any:
        event = ReceiptEv(
            MessageSource=MessageSource(Chat=PHONE, Sender=PHONE, IsFromMe=False, IsGroup=False),
            MessageIDs=["A", "B"],
            Timestamp=WHEN,
            Type=kind,
        )
        return delivered(event)

    got = mapping.receipt(receipt_event(ReceiptEv.DELIVERED))
    assert got is not None and got.status == "delivered"
    assert got.message_ids == ("A", "B") and got.chat == "5511987654321@s.whatsapp.net"
    assert mapping.receipt(receipt_event(ReceiptEv.READ)).status == "read"  # type: ignore[union-attr]
    assert mapping.receipt(receipt_event(ReceiptEv.PLAYED)).status == "played"  # type: ignore[union-attr]
    assert mapping.receipt(receipt_event(ReceiptEv.READ_SELF)) is None
    assert mapping.receipt(receipt_event(ReceiptEv.RETRY)) is None


def test_call_offer() -> None:
    caller = build_jid("5511987654321")
    caller.Device = 3
    event = CallOfferEv(
        basicCallMeta=BasicCallMeta(callCreator=caller, callID="CALL1", timestamp=WHEN)
    )
    call = mapping.incoming_call(delivered(event))
    assert call.call_id == "CALL1" and call.caller == "5511987654321:3@s.whatsapp.net"


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        (REASON.Value("LOGGED_OUT"), LoggedOut),
        (REASON.Value("MAIN_DEVICE_GONE"), LoggedOut),
        (REASON.Value("TEMP_BANNED"), ConnectFailed),
        (REASON.Value("CLIENT_OUTDATED"), ConnectFailed),
    ],
)
def test_logged_out_reasons(reason: int, expected: type) -> None:
    event = delivered(LoggedOutEv(OnConnect=True, Reason=reason))
    mapped = mapping.logged_out(event)
    assert isinstance(mapped, expected)
    if isinstance(mapped, ConnectFailed):
        assert mapped.permanent  # a ban or an outdated client never retries in a loop


def test_connect_failure_and_ban() -> None:
    failure = ConnectFailureEv(Reason=REASON.Value("SERVICE_UNAVAILABLE"), Message="try later")
    mapped = mapping.connect_failure(int(failure.Reason), str(failure.Message))
    assert isinstance(mapped, ConnectionLost) and "service_unavailable" in mapped.reason
    assert isinstance(mapping.connect_failure(int(REASON.Value("LOGGED_OUT"))), LoggedOut)
    ban = mapping.temporary_ban(TemporaryBanEv(Code=TemporaryBanEv.BLOCKED_BY_USERS, Expire=3600))
    assert ban.permanent and "3600" in ban.reason


async def test_group_message_mentions() -> None:
    mentioned = ["5511912345678@s.whatsapp.net", "123456789012345@lid"]
    inbound = await run(
        message_event(
            Message(
                extendedTextMessage=ExtendedTextMessage(
                    text="@5511912345678 @all", contextInfo=ContextInfo(mentionedJID=mentioned)
                )
            ),
            sender=PHONE,
            chat=GROUP,
            IsGroup=True,
        )
    )
    assert inbound.mentions == tuple(mentioned) and inbound.chat == "120363012345678901@g.us"
    plain = await run(message_event(Message(conversation="no one")))
    assert plain.mentions == ()
