"""neonize events as the gateway's engine events (engine host side).

Pure functions over the protobuf event objects neonize delivers, so tests can feed them real
`MessageEv`/`ReceiptEv`/... protos. Media download and @lid resolution are passed in, because
they need a linked client.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from wagate.engines.base import (
    BlocklistUpdate,
    ConnectFailed,
    ConnectionLost,
    ContactUpdate,
    EngineEvent,
    InboundMedia,
    InboundMessage,
    IncomingCall,
    LoggedOut,
    MessageEdited,
    MessageRevoked,
    PendingMedia,
    PollVote,
    PresenceUpdate,
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


def _context(content: Any) -> Any | None:
    if content is None or "contextInfo" not in content.DESCRIPTOR.fields_by_name:
        return None
    return content.contextInfo


def _reply_to(content: Any) -> str | None:
    context = _context(content)
    stanza = str(context.stanzaID) if context is not None else ""
    return stanza or None


def quoted(content: Any) -> dict[str, Any] | None:
    """The message a reply quotes, as the reply carries it: its id, author, kind and text."""
    context = _context(content)
    if context is None or not context.stanzaID:
        return None
    found: dict[str, Any] = {"message_id": str(context.stanzaID)}
    if context.participant:
        found["from"] = str(context.participant)
    if context.HasField("quotedMessage"):
        message = unwrap(context.quotedMessage)
        if message.conversation:
            found.update(kind="text", text=str(message.conversation))
        elif _has(message, "extendedTextMessage"):
            found.update(kind="text", text=str(message.extendedTextMessage.text))
        elif field := next((name for name in MEDIA_KINDS if _has(message, name)), None):
            found["kind"] = MEDIA_KINDS[field]
            caption = getattr(getattr(message, field), "caption", "")
            if caption:
                found["text"] = str(caption)
    return found


def forwarded(content: Any) -> bool:
    context = _context(content)
    return context is not None and bool(context.isForwarded)


def ephemeral(message: Any, content: Any) -> bool:
    """Sent in a chat with disappearing messages on: an ephemeral wrapper (older senders) or
    a timer in the context."""
    if message.HasField("ephemeralMessage"):
        return True
    context = _context(content)
    return context is not None and int(context.expiration) > 0


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


async def inbound_message(
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
    found = await _content(message, download, max_media_bytes)
    if found is None:
        return None  # protocol messages, key distribution, history notices...
    content, values = found
    if "media" in values:  # the view-once flag may sit on a wrapper unwrap() removed
        values["view_once"] = view_once(event.Message)
    return InboundMessage(
        message_id=str(info.ID),
        chat=chat,
        sender=sender,
        from_me=bool(source.IsFromMe),
        timestamp=to_datetime(int(info.Timestamp)),
        reply_to=_reply_to(content),
        quoted=quoted(content),
        forwarded=forwarded(content),
        ephemeral=ephemeral(event.Message, content),
        push_name=str(info.Pushname) or None,
        mentions=_mentions(content),
        **values,
    )


async def _content(
    message: Any, download: Download, max_media_bytes: int
) -> tuple[Any, dict[str, Any]] | None:
    """The part of the message that holds its content (where a reply names what it quotes;
    None if it has none) and the InboundMessage fields of its kind, or None for no user
    content."""
    if message.conversation:
        return None, {"kind": "text", "text": str(message.conversation)}
    if _has(message, "extendedTextMessage"):
        content = message.extendedTextMessage
        return content, {"kind": "text", "text": str(content.text)}
    if field := next((name for name in MEDIA_KINDS if _has(message, name)), None):
        content = getattr(message, field)
        values: dict[str, Any] = {"kind": MEDIA_KINDS[field]}
        if "caption" in content.DESCRIPTOR.fields_by_name and content.caption:
            values["caption"] = str(content.caption)
        values["media"] = await _media(message, content, download, max_media_bytes)
        return content, values
    return _structured(message)


async def _not_fetched(message: Any) -> bytes | None:
    return None


async def history_content(message: Any) -> tuple[Any, dict[str, Any]] | None:
    """A message of a history sync as `_content` sees it (with its reply_to), its media not
    fetched but described (`pending_media`, its handle the message itself, which is what the
    download needs later): None for no user content."""
    inner = unwrap(message)
    found = await _content(inner, _not_fetched, 0)
    if found is None:
        return None
    content, values = found
    values.pop("media", None)
    if values["kind"] in MEDIA_KINDS.values() and content is not None:
        mimetype, filename = _described(content)
        size = int(getattr(content, "fileLength", 0) or 0) or None
        handle = inner.SerializeToString()
        values["pending_media"] = PendingMedia(mimetype, filename, size, handle)
    return content, values | {"reply_to": _reply_to(content)}


def _described(content: Any) -> tuple[str, str | None]:
    """A media message's type and file name, as the sender gave them."""
    filename = str(content.fileName) if "fileName" in content.DESCRIPTOR.fields_by_name else ""
    return str(content.mimetype) or "application/octet-stream", filename or None


def _structured(message: Any) -> tuple[Any, dict[str, Any]] | None:
    """Locations, contacts, reactions and polls (see `_content`)."""
    if _has(message, "locationMessage") or _has(message, "liveLocationMessage"):
        live = _has(message, "liveLocationMessage")
        content = message.liveLocationMessage if live else message.locationMessage
        return content, {"kind": "location", "location": _location(content)}
    if _has(message, "contactMessage"):
        content = message.contactMessage
        return content, {"kind": "contact", "contacts": [_contact(content)]}
    if _has(message, "contactsArrayMessage"):
        content = message.contactsArrayMessage
        return content, {"kind": "contact", "contacts": [_contact(c) for c in content.contacts]}
    if _has(message, "reactionMessage"):
        reaction = message.reactionMessage
        found = {"message_id": str(reaction.key.ID), "emoji": str(reaction.text)}
        return None, {"kind": "reaction", "reaction": found}
    if poll_field := next((name for name in POLL_FIELDS if _has(message, name)), None):
        content = getattr(message, poll_field)
        poll = {
            "question": str(content.name),
            "options": [str(option.optionName) for option in content.options],
            "selectable_count": int(content.selectableOptionsCount) or 1,
        }
        return content, {"kind": "poll", "poll": poll}
    return None


def _location(content: Any) -> dict[str, Any]:
    location: dict[str, Any] = {
        "latitude": float(content.degreesLatitude),
        "longitude": float(content.degreesLongitude),
    }
    for key in ("name", "address"):
        if key in content.DESCRIPTOR.fields_by_name and getattr(content, key):
            location[key] = str(getattr(content, key))
    return location


PROTOCOL_REVOKE, PROTOCOL_EDIT = 0, 14  # waE2E.ProtocolMessage.Type REVOKE, MESSAGE_EDIT


def _edited_text(message: Any) -> str | None:
    if message.conversation:
        return str(message.conversation)
    if _has(message, "extendedTextMessage"):
        return str(message.extendedTextMessage.text)
    for field in MEDIA_KINDS:
        if _has(message, field) and getattr(message, field).caption:
            return str(getattr(message, field).caption)
    return None


async def message_change(event: Any, resolve: Resolve) -> MessageEdited | MessageRevoked | None:
    """A `MessageEv` that edits or revokes an earlier message (a protocol message), or None."""
    message = unwrap(event.Message)
    if not _has(message, "protocolMessage"):
        return None
    protocol = message.protocolMessage
    source = event.Info.MessageSource
    sender = await sender_jid(source, resolve)
    chat = jid_string(source.Chat)
    if is_lid(source.Chat) and not source.IsGroup and not source.IsFromMe:
        chat = sender
    at = to_datetime(int(event.Info.Timestamp))
    target, from_me = str(protocol.key.ID), bool(source.IsFromMe)
    if int(protocol.type) == PROTOCOL_REVOKE and target:
        return MessageRevoked(target, chat, sender, from_me, at)
    if int(protocol.type) == PROTOCOL_EDIT and target:
        text = _edited_text(unwrap(protocol.editedMessage))
        if text is not None:
            return MessageEdited(target, chat, sender, from_me, text, at)
    return None


def poll_options(poll_message: Any) -> list[str]:
    """The option names of a poll creation message (any of its versions)."""
    message = unwrap(poll_message)
    field = next((name for name in POLL_FIELDS if _has(message, name)), None)
    if field is None:
        return []
    return [str(option.optionName) for option in getattr(message, field).options]


def chosen_options(selected: Any, options: list[str]) -> list[str]:
    """A decrypted vote names its options by the SHA-256 of their names."""
    by_hash = {hashlib.sha256(name.encode()).digest(): name for name in options}
    return [by_hash[bytes(digest)] for digest in selected if bytes(digest) in by_hash]


def poll_key(event: Any) -> str | None:
    """The poll a `MessageEv` votes in (a poll update), or None."""
    message = unwrap(event.Message)
    if not _has(message, "pollUpdateMessage"):
        return None
    return str(message.pollUpdateMessage.pollCreationMessageKey.ID) or None


async def poll_vote(event: Any, resolve: Resolve, selected: Any, options: list[str]) -> PollVote:
    source = event.Info.MessageSource
    voter = await sender_jid(source, resolve)
    chat = jid_string(source.Chat)
    if is_lid(source.Chat) and not source.IsGroup and not source.IsFromMe:
        chat = voter
    return PollVote(
        poll_message_id=str(unwrap(event.Message).pollUpdateMessage.pollCreationMessageKey.ID),
        chat=chat,
        voter=voter,
        from_me=bool(source.IsFromMe),
        options=chosen_options(selected, options),
        timestamp=to_datetime(int(event.Info.Timestamp)),
    )


async def _media(
    message: Any, content: Any, download: Download, max_media_bytes: int
) -> InboundMedia | None:
    size = int(getattr(content, "fileLength", 0) or 0)
    if size > max_media_bytes:
        return None  # announced, not fetched: larger than the gateway keeps
    data = await download(message)
    if data is None:
        return None
    mimetype, filename = _described(content)
    return InboundMedia(data=data, mimetype=mimetype, filename=filename)


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


def _caller(meta: Any) -> str:
    creator = meta.callCreator if not is_empty(meta.callCreator) else getattr(meta, "from")
    # Kept with its device part: RejectCall wants the caller exactly as delivered.
    user = f"{creator.User}:{creator.Device}" if creator.Device else str(creator.User)
    return f"{user}@{creator.Server}"


def incoming_call(event: Any) -> IncomingCall:
    """A CallOffer: ringing. Its offer node names the media (`<video>` for a video call)."""
    meta = event.basicCallMeta
    video = any(str(node.Tag) == "video" for node in event.data.Nodes)
    return IncomingCall(
        call_id=str(meta.callID),
        caller=_caller(meta),
        status="offered",
        video=video,
        timestamp=to_datetime(int(meta.timestamp)),
    )


def call_update(event: Any, ringing: IncomingCall | None, status: str) -> IncomingCall | None:
    """A CallAccept (answered on another device) or CallTerminate (ended): news only for a
    call still ringing here, else it was answered or rejected already and has been told."""
    if ringing is None:
        return None
    meta = event.basicCallMeta
    when = to_datetime(int(meta.timestamp))
    return IncomingCall(ringing.call_id, ringing.caller, status, ringing.video, when)


# ChatPresence (state, media) -> the API's state.
CHAT_STATES = {(1, 1): "typing", (1, 2): "recording", (2, 1): "paused", (2, 2): "paused"}


def presence(event: Any) -> PresenceUpdate:
    """A subscribed contact came online or went offline."""
    contact = jid_string(event.From)
    last_seen = to_datetime(int(event.LastSeen)) if event.LastSeen else None
    state = "unavailable" if event.Unavailable else "available"
    return PresenceUpdate(contact, contact, state, datetime.now(UTC), last_seen)


def chat_presence(event: Any) -> PresenceUpdate | None:
    state = CHAT_STATES.get((int(event.State), int(event.Media) or 1))
    if state is None:
        return None
    source = event.MessageSource
    return PresenceUpdate(
        jid_string(source.Chat), jid_string(source.Sender), state, datetime.now(UTC)
    )


def picture_change(event: Any) -> ContactUpdate | None:
    """A contact's picture was set or removed (a group's belongs to the group events)."""
    if str(event.JID.Server) == "g.us":
        return None
    change = "removed" if event.Remove else "set"
    return ContactUpdate(
        jid_string(event.JID), {"picture": change}, to_datetime(int(event.Timestamp))
    )


def push_name_change(event: Any, known: dict[str, str]) -> ContactUpdate | None:
    """WhatsApp sends a contact's push name with each message: a changed one is news."""
    name = str(event.Info.Pushname)
    source = event.Info.MessageSource
    if not name or source.IsFromMe:
        return None
    sender = jid_string(source.Sender)
    previous = known.get(sender)
    known[sender] = name
    if previous is None or previous == name:
        return None  # the first one seen is no change
    return ContactUpdate(sender, {"push_name": name}, to_datetime(int(event.Info.Timestamp)))


BLOCK_ACTIONS = {1: "block", 2: "unblock"}  # BlocklistChange.Action


def blocklist_changes(event: Any) -> list[BlocklistUpdate]:
    now = datetime.now(UTC)
    return [
        BlocklistUpdate(jid_string(change.JID), BLOCK_ACTIONS[int(change.BlockAction)], now)
        for change in event.Changes
        if int(change.BlockAction) in BLOCK_ACTIONS
    ]


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
