"""neonize events as the gateway's engine events (engine host side).

Pure functions over the protobuf event objects neonize delivers, so tests can feed them real
`MessageEv`/`ReceiptEv`/... protos. Media download and @lid resolution are passed in, because
they need a linked client.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from wagate.engines.base import (
    ConnectFailed,
    ConnectionLost,
    EngineEvent,
    InboundMedia,
    InboundMessage,
    IncomingCall,
    LoggedOut,
    Receipt,
)
from wagate.engines.whatsmeow.jids import is_empty, is_lid, jid_string

Resolve = Callable[[Any], Awaitable[Any | None]]  # an @lid JID -> its phone-number JID, or None
Download = Callable[[Any], Awaitable[bytes | None]]  # a waE2E.Message -> its media bytes

# Wrappers whose `.message` holds the real content.
WRAPPERS = (
    "ephemeralMessage",
    "viewOnceMessage",
    "viewOnceMessageV2",
    "viewOnceMessageV2Extension",
    "documentWithCaptionMessage",
    "editedMessage",
)
MEDIA_KINDS = {
    "imageMessage": "image",
    "videoMessage": "video",
    "ptvMessage": "video",
    "audioMessage": "audio",
    "documentMessage": "document",
    "stickerMessage": "sticker",
}
POLL_FIELDS = (
    "pollCreationMessage",
    "pollCreationMessageV2",
    "pollCreationMessageV3",
    "pollCreationMessageV5",
)
RECEIPT_STATUS = {1: "delivered", 4: "read", 6: "played"}  # DELIVERED, READ, PLAYED
WAID = re.compile(r"waid=(\d+)")
TEL = re.compile(r"^TEL[^:]*:(.+)$", re.MULTILINE)
FN = re.compile(r"^FN:(.+)$", re.MULTILINE)


def to_datetime(value: int) -> datetime:
    """whatsmeow timestamps: seconds, or milliseconds in some neonize encoders."""
    seconds = value / 1000 if value > 100_000_000_000 else value
    return datetime.fromtimestamp(seconds, UTC) if seconds > 0 else datetime.now(UTC)


VIEW_ONCE_WRAPPERS = frozenset(name for name in WRAPPERS if name.startswith("viewOnce"))


def view_once(message: Any) -> bool:
    """Whether a view-once wrapper holds the content (older senders), or the media message
    says so itself (`viewOnce`, as whatsmeow sends it today)."""
    for _ in range(4):
        for name in WRAPPERS:
            if message.HasField(name) and getattr(message, name).HasField("message"):
                if name in VIEW_ONCE_WRAPPERS:
                    return True
                message = getattr(message, name).message
                break
        else:
            break
    field = next((name for name in MEDIA_KINDS if message.HasField(name)), None)
    content = getattr(message, field) if field is not None else None
    return content is not None and bool(getattr(content, "viewOnce", False))


def unwrap(message: Any) -> Any:
    for _ in range(4):  # wrappers nest (ephemeral view-once document-with-caption)
        for name in WRAPPERS:
            if message.HasField(name) and getattr(message, name).HasField("message"):
                message = getattr(message, name).message
                break
        else:
            return message
    return message


def _has(message: Any, name: str) -> bool:
    return bool(message.HasField(name))


def _contact(card: Any) -> dict[str, Any]:
    vcard = str(card.vcard)
    waid, tel, full_name = WAID.search(vcard), TEL.search(vcard), FN.search(vcard)
    phone = waid.group(1) if waid else ""
    if not phone and tel is not None:
        phone = "".join(c for c in tel.group(1) if c.isdigit())
    name = str(card.displayName) or (full_name.group(1).strip() if full_name else "")
    return {"name": name, "phone": phone or None, "vcard": vcard}


def _reply_to(content: Any) -> str | None:
    if content is None or "contextInfo" not in content.DESCRIPTOR.fields_by_name:
        return None
    stanza = str(content.contextInfo.stanzaID)
    return stanza or None


def _mentions(content: Any) -> tuple[str, ...]:
    if content is None or "contextInfo" not in content.DESCRIPTOR.fields_by_name:
        return ()
    return tuple(str(jid) for jid in content.contextInfo.mentionedJID)


async def sender_jid(source: Any, resolve: Resolve) -> str:
    """The sender as a phone-number JID where whatsmeow knows it, else as delivered."""
    sender = source.Sender
    if is_lid(sender):
        alt = source.SenderAlt
        if not is_empty(alt) and not is_lid(alt):
            return jid_string(alt)
        resolved = await resolve(sender)
        if resolved is not None and not is_empty(resolved):
            return jid_string(resolved)
    return jid_string(sender)


async def inbound_message(  # noqa: C901
    event: Any, resolve: Resolve, download: Download, max_media_bytes: int
) -> InboundMessage | None:
    """A `MessageEv` as an InboundMessage, or None for what carries no user content."""
    info = event.Info
    source = info.MessageSource
    message = unwrap(event.Message)
    sender = await sender_jid(source, resolve)
    chat = jid_string(source.Chat)
    if is_lid(source.Chat) and not source.IsGroup:
        chat = sender if not source.IsFromMe else chat  # a 1:1 chat is its other side
    values: dict[str, Any] = {
        "message_id": str(info.ID),
        "chat": chat,
        "sender": sender,
        "from_me": bool(source.IsFromMe),
        "timestamp": to_datetime(int(info.Timestamp)),
    }
    content: Any = None
    if message.conversation:
        values.update(kind="text", text=str(message.conversation))
    elif _has(message, "extendedTextMessage"):
        content = message.extendedTextMessage
        values.update(kind="text", text=str(content.text))
    elif field := next((name for name in MEDIA_KINDS if _has(message, name)), None):
        content = getattr(message, field)
        values.update(kind=MEDIA_KINDS[field])
        if "caption" in content.DESCRIPTOR.fields_by_name and content.caption:
            values["caption"] = str(content.caption)
        values["media"] = await _media(message, content, download, max_media_bytes)
        values["view_once"] = view_once(event.Message)
    elif _has(message, "locationMessage") or _has(message, "liveLocationMessage"):
        live = _has(message, "liveLocationMessage")
        content = message.liveLocationMessage if live else message.locationMessage
        location: dict[str, Any] = {
            "latitude": float(content.degreesLatitude),
            "longitude": float(content.degreesLongitude),
        }
        for key in ("name", "address"):
            if key in content.DESCRIPTOR.fields_by_name and getattr(content, key):
                location[key] = str(getattr(content, key))
        values.update(kind="location", location=location)
    elif _has(message, "contactMessage"):
        content = message.contactMessage
        values.update(kind="contact", contacts=[_contact(content)])
    elif _has(message, "contactsArrayMessage"):
        content = message.contactsArrayMessage
        values.update(kind="contact", contacts=[_contact(c) for c in content.contacts])
    elif _has(message, "reactionMessage"):
        reaction = message.reactionMessage
        values.update(
            kind="reaction",
            reaction={"message_id": str(reaction.key.ID), "emoji": str(reaction.text)},
        )
    elif poll_field := next((name for name in POLL_FIELDS if _has(message, name)), None):
        content = getattr(message, poll_field)
        values.update(
            kind="poll",
            poll={
                "question": str(content.name),
                "options": [str(option.optionName) for option in content.options],
                "selectable_count": int(content.selectableOptionsCount) or 1,
            },
        )
    else:
        return None  # protocol messages, key distribution, history notices...
    values["reply_to"] = _reply_to(content)
    values["mentions"] = _mentions(content)
    return InboundMessage(**values)


async def _media(
    message: Any, content: Any, download: Download, max_media_bytes: int
) -> InboundMedia | None:
    size = int(getattr(content, "fileLength", 0) or 0)
    if size > max_media_bytes:
        return None  # announced, not fetched: larger than the gateway keeps
    data = await download(message)
    if data is None:
        return None
    filename = str(content.fileName) if "fileName" in content.DESCRIPTOR.fields_by_name else ""
    mimetype = str(content.mimetype) or "application/octet-stream"
    return InboundMedia(data=data, mimetype=mimetype, filename=filename or None)


def receipt(event: Any) -> Receipt | None:
    status = RECEIPT_STATUS.get(int(event.Type))
    if status is None or not event.MessageIDs:
        return None  # retries, our own reads on other devices, server errors
    return Receipt(
        message_ids=tuple(str(i) for i in event.MessageIDs),
        chat=jid_string(event.MessageSource.Chat),
        status=status,
        timestamp=to_datetime(int(event.Timestamp)),
    )


def incoming_call(event: Any) -> IncomingCall:
    meta = event.basicCallMeta
    creator = meta.callCreator if not is_empty(meta.callCreator) else getattr(meta, "from")
    # Kept with its device part: RejectCall wants the caller exactly as delivered.
    user = f"{creator.User}:{creator.Device}" if creator.Device else str(creator.User)
    return IncomingCall(call_id=str(meta.callID), caller=f"{user}@{creator.Server}")


# ConnectFailureReason values (whatsmeow): which failures unlink, which must not be retried.
REASON_NAMES = {
    1: "generic",
    2: "logged_out",
    3: "temp_banned",
    4: "main_device_gone",
    5: "unknown_logout",
    6: "client_outdated",
    7: "bad_user_agent",
    8: "internal_server_error",
    9: "experimental",
    10: "service_unavailable",
}
LOGOUT_REASONS = {2, 4, 5}


def connect_failure(reason: int, message: str = "") -> EngineEvent:
    name = REASON_NAMES.get(reason, f"reason_{reason}")
    text = f"connect_failure: {name}" + (f" ({message})" if message else "")
    if reason in LOGOUT_REASONS:
        return LoggedOut(reason=name)
    if reason in (3, 6, 7):  # banned, outdated, refused user agent: retrying cannot help
        return ConnectFailed(reason=text, permanent=True)
    return ConnectionLost(reason=text)


def logged_out(event: Any) -> EngineEvent:
    reason = int(event.Reason)
    if reason in (3, 6, 7):
        return connect_failure(reason)
    return LoggedOut(reason=REASON_NAMES.get(reason, "logged_out") if reason else "logged_out")


def temporary_ban(event: Any) -> ConnectFailed:
    # Not an unlink: the device comes back when the ban ends, so its store is kept.
    return ConnectFailed(
        reason=f"temporary_ban: code {int(event.Code)}, expires in {int(event.Expire)} s",
        permanent=True,
    )
