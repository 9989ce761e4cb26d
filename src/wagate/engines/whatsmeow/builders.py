"""API.md send kinds as neonize `Message` protobufs (runs inside an engine host).

Media is always handed to neonize as the bytes the gateway downloaded and validated, never as
a URL or a path: neonize would fetch a string argument itself, with no timeout and no checks.
The media builders upload through `client.upload`, so they need a linked client; everything
after the upload (the proto) is what the tests check offline.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any

from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import (
    ContactMessage,
    ContactsArrayMessage,
    ContextInfo,
    ExtendedTextMessage,
    LocationMessage,
    Message,
)
from neonize.utils.enum import MediaType, VoteType
from neonize.utils.jid import Jid2String

from wagate.engines.base import OutgoingMedia, OutgoingMessage, PermanentEngineError
from wagate.engines.whatsmeow.jids import jid_string, parse_jid, phone_jid
from wagate.message_kinds import Kind

log = logging.getLogger("wagate.whatsmeow.builders")
THUMBNAIL_UPLOAD_S = 15.0


@dataclass(frozen=True, slots=True)
class Quote:
    """What the host remembers of a recent message, to quote it or react to it."""

    message_id: str
    sender: str  # JID string of who wrote it
    message: Any | None = None  # the waE2E.Message, when known


def vcard(contact: dict[str, Any]) -> str:
    def esc(value: str) -> str:
        return (
            value.replace("\\", "\\\\").replace("\n", "\\n").replace(";", "\\;").replace(",", "\\,")
        )

    name = str(contact["name"])
    digits = "".join(ch for ch in str(contact["phone"]) if ch.isdigit())
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"FN:{esc(name)}", f"N:;{esc(name)};;;"]
    if contact.get("organization"):
        lines.append(f"ORG:{esc(str(contact['organization']))}")
    lines.append(f"TEL;type=CELL;type=VOICE;waid={digits}:+{digits}")
    if contact.get("email"):
        lines.append(f"EMAIL;type=INTERNET:{esc(str(contact['email']))}")
    lines.append("END:VCARD")
    return "\n".join(lines)


def _contact_message(body: dict[str, Any]) -> Any:
    contacts = list(body.get("contacts") or [])
    if not contacts:
        raise PermanentEngineError("a contact message needs at least one contact")
    # The messages feature builds each card's vCard at submit time; build one if it did not.
    items = [
        ContactMessage(displayName=str(c["name"]), vcard=str(c.get("vcard") or vcard(c)))
        for c in contacts
    ]
    if len(items) == 1:
        return Message(contactMessage=items[0])
    return Message(
        contactsArrayMessage=ContactsArrayMessage(
            displayName=f"{len(items)} contacts", contacts=items
        )
    )


def _location_message(body: dict[str, Any]) -> Any:
    location = LocationMessage(
        degreesLatitude=float(body["latitude"]), degreesLongitude=float(body["longitude"])
    )
    if body.get("name"):
        location.name = str(body["name"])
    if body.get("address"):
        location.address = str(body["address"])
    return Message(locationMessage=location)


def _media(message: OutgoingMessage) -> tuple[bytes, OutgoingMedia]:
    media = message.media
    if media is None:
        raise PermanentEngineError(f"a {message.kind} message needs media")
    return bytes(media.data), media  # bytes, never a str: neonize would read a str as a path


def _caption(message: OutgoingMessage) -> str | None:
    return message.body.get("caption") or None


def _view_once(message: OutgoingMessage) -> bool:
    return bool(message.body.get("view_once"))


async def _image(client: Any, message: OutgoingMessage, quote: Quote | None) -> Any:
    data, _ = _media(message)
    return await client.build_image_message(
        data, caption=_caption(message), viewonce=_view_once(message)
    )


async def _video(client: Any, message: OutgoingMessage, quote: Quote | None) -> Any:
    data, media = _media(message)
    return await client.build_video_message(
        data,
        caption=_caption(message),
        viewonce=_view_once(message),
        gifplayback=bool(message.body.get("gif")),
        is_gif=media.mimetype == "image/gif",
    )


async def _audio(client: Any, message: OutgoingMessage, quote: Quote | None) -> Any:
    data, _ = _media(message)
    ptt = bool(message.body.get("ptt"))
    built = await client.build_audio_message(data, ptt=ptt)
    if ptt and built.audioMessage.mimetype.startswith("audio/ogg"):
        built.audioMessage.mimetype = "audio/ogg; codecs=opus"  # what phones expect of PTT
    if _view_once(message):
        built.audioMessage.viewOnce = True  # neonize's audio builder takes no such argument
    return built


async def _document(client: Any, message: OutgoingMessage, quote: Quote | None) -> Any:
    data, media = _media(message)
    filename = message.body.get("filename") or media.filename or "file"
    return await client.build_document_message(
        data, caption=_caption(message), title=filename, filename=filename, mimetype=media.mimetype
    )


async def _sticker(client: Any, message: OutgoingMessage, quote: Quote | None) -> Any:
    data, _ = _media(message)
    return await client.build_sticker_message(data)


async def _preview_text(client: Any, text: str, preview: dict[str, Any]) -> Any:
    """Extended text with the link preview the gateway fetched (engines/link_preview.py)."""
    extended = ExtendedTextMessage(
        text=text,
        matchedText=str(preview["url"]),
        title=str(preview.get("title") or ""),
        description=str(preview.get("description") or ""),
        previewType=(
            ExtendedTextMessage.PreviewType.VIDEO
            if preview.get("video")
            else ExtendedTextMessage.PreviewType.NONE
        ),
    )
    thumbnail = preview.get("thumbnail")
    if not thumbnail:
        return Message(extendedTextMessage=extended)
    extended.JPEGThumbnail = bytes(thumbnail)
    extended.thumbnailWidth = int(preview.get("thumbnail_width") or 0)
    extended.thumbnailHeight = int(preview.get("thumbnail_height") or 0)
    try:
        # As WhatsApp Web does: the thumbnail is also uploaded, for phones that show the
        # larger picture. Without it the inline JPEG still shows: a failure is not fatal.
        upload = await asyncio.wait_for(
            client.upload(bytes(thumbnail), MediaType.MediaLinkThumbnail), THUMBNAIL_UPLOAD_S
        )
    except Exception as exc:
        log.info("link thumbnail upload failed: %s", type(exc).__name__)
    else:
        extended.thumbnailDirectPath = upload.DirectPath
        extended.thumbnailSHA256 = upload.FileSHA256
        extended.thumbnailEncSHA256 = upload.FileEncSHA256
        extended.mediaKey = upload.MediaKey
        extended.mediaKeyTimestamp = int(time.time())
    return Message(extendedTextMessage=extended)


async def _text(client: Any, message: OutgoingMessage, quote: Quote | None) -> Any:
    body = message.body
    if isinstance(body.get("preview"), dict) and body["preview"].get("url"):
        return await _preview_text(client, str(body["text"]), body["preview"])
    return Message(conversation=str(body["text"]))


async def _location(client: Any, message: OutgoingMessage, quote: Quote | None) -> Any:
    return _location_message(message.body)


async def _contact(client: Any, message: OutgoingMessage, quote: Quote | None) -> Any:
    return _contact_message(message.body)


async def _reaction(client: Any, message: OutgoingMessage, quote: Quote | None) -> Any:
    target = str(message.body["message_id"])
    chat = parse_jid(message.to_jid)
    # Whose message it was decides key.fromMe/participant; unknown: the chat's other side.
    sender = parse_jid(quote.sender) if quote is not None else chat
    return await client.build_reaction(chat, sender, target, str(message.body.get("emoji") or ""))


async def _poll(client: Any, message: OutgoingMessage, quote: Quote | None) -> Any:
    body = message.body
    options = [str(option) for option in body["options"]]
    count = int(body.get("selectable_count") or 1)
    vote = VoteType.SINGLE if count == 1 else VoteType.MULTIPLE
    built = await client.build_poll_vote_creation(str(body["question"]), options, vote)
    poll = _content(built)
    if poll is not None and count > 1:
        poll.selectableOptionsCount = min(count, len(options))
    return built


# (the linked neonize client, the send, the quoted message if known) -> the `Message` proto
Builder = Callable[[Any, OutgoingMessage, Quote | None], Awaitable[Any]]
# One builder per kind (tests/unit/test_message_kinds.py fails when a kind has none).
BUILDERS: dict[Kind, Builder] = {
    Kind.TEXT: _text,
    Kind.IMAGE: _image,
    Kind.VIDEO: _video,
    Kind.AUDIO: _audio,
    Kind.DOCUMENT: _document,
    Kind.STICKER: _sticker,
    Kind.LOCATION: _location,
    Kind.CONTACT: _contact,
    Kind.REACTION: _reaction,
    Kind.POLL: _poll,
}


async def build_content(client: Any, message: OutgoingMessage, quote: Quote | None) -> Any:
    """The `Message` proto for one send, without reply/mention context."""
    try:
        builder = BUILDERS[Kind(message.kind)]
    except ValueError:
        raise PermanentEngineError(f"unknown message kind {message.kind!r}") from None
    return await builder(client, message, quote)


def _content(message: Any) -> Any | None:
    """The inner message that carries `contextInfo` (imageMessage, pollCreationMessage...)."""
    for descriptor, value in message.ListFields():
        if descriptor.message_type is not None and "contextInfo" in (
            descriptor.message_type.fields_by_name
        ):
            return value
    return None


def apply_context(
    message: Any, to_jid: str, reply_to: str | None, quote: Quote | None, mentions: list[str]
) -> Any:
    """Add the quote (reply_to) and the mentions; a plain conversation becomes extended text."""
    if not reply_to and not mentions:
        return message
    if message.conversation:
        message = Message(extendedTextMessage=ExtendedTextMessage(text=message.conversation))
    content = _content(message)
    if content is None:
        return message  # reactions carry no context
    context = ContextInfo()
    if reply_to:
        context.stanzaID = reply_to
        chat = parse_jid(to_jid)
        author = quote.sender if quote is not None else Jid2String(chat)
        context.participant = author
        if quote is not None and quote.message is not None:
            context.quotedMessage.CopyFrom(quote.message)
        else:
            # Phones render a quote from its content; an unknown message is quoted empty.
            context.quotedMessage.CopyFrom(Message(conversation=""))
    existing = list(content.contextInfo.mentionedJID)
    for mention in mentions:
        if mention not in existing:
            existing.append(mention)
    content.contextInfo.MergeFrom(context)
    del content.contextInfo.mentionedJID[:]
    content.contextInfo.mentionedJID.extend(existing)
    return message


async def build_message(client: Any, message: OutgoingMessage, quote: Quote | None) -> Any:
    content = await build_content(client, message, quote)
    mentions = [phone_jid(m) for m in message.mentions]
    return apply_context(content, message.to_jid, message.reply_to, quote, mentions)


def mention_everyone(message: OutgoingMessage, group: Any) -> OutgoingMessage:
    """The send with every participant of `group` (neonize's GroupInfo) among its mentions, as
    the group addresses them (phone JIDs, or LIDs in a LID-addressed group)."""
    everyone = [jid_string(participant.JID) for participant in group.Participants]
    mentions = tuple(dict.fromkeys([*message.mentions, *everyone]))
    return replace(message, mentions=mentions, mention_everyone=False)
