"""Events: webhook signature check, typed parsing, and the Server-Sent Events wire format."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from wagate_client._json import (
    JSON,
    boolean,
    integer,
    number,
    obj_list,
    opt_int,
    opt_obj,
    opt_str,
    opt_time,
    parse_time,
    str_list,
    string,
)

SIGNATURE_HEADER = "X-Wagate-Signature"


def verify_signature(
    secret: str | bytes,
    header: str | None,
    body: bytes | str,
    tolerance: float = 300,
    *,
    now: float | None = None,
) -> bool:
    """Whether `header` (the X-Wagate-Signature value) signs `body` (the RAW request body,
    before any JSON parsing) with `secret`, and its timestamp is within `tolerance` seconds
    of now: an old timestamp is refused so a captured request cannot be replayed later."""
    if not header:
        return False
    fields = [item.strip().partition("=") for item in header.split(",")]
    stamp = next((value for key, _, value in fields if key == "t"), "")
    signatures = [value for key, _, value in fields if key == "v1"]
    if not stamp.isdigit() or not signatures:
        return False
    current = time.time() if now is None else now
    if abs(current - int(stamp)) > tolerance:
        return False
    key = secret.encode() if isinstance(secret, str) else secret
    raw = body.encode() if isinstance(body, str) else body
    expected = hmac.new(key, stamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
    # Every v1 is tried: a gateway rotating its secret may send two.
    return any(hmac.compare_digest(expected, signature) for signature in signatures)


def sign(secret: str | bytes, body: bytes | str, timestamp: int | None = None) -> str:
    """An X-Wagate-Signature value for `body`, as the gateway makes it (for receivers' tests)."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    key = secret.encode() if isinstance(secret, str) else secret
    raw = body.encode() if isinstance(body, str) else body
    digest = hmac.new(key, stamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
    return f"t={stamp},v1={digest}"


# --- the events' data -------------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectionUpdate:
    status: str
    previous: str | None
    reason: str | None
    jid: str | None

    @classmethod
    def from_json(cls, data: JSON) -> ConnectionUpdate:
        return cls(
            status=string(data, "status"),
            previous=opt_str(data, "previous"),
            reason=opt_str(data, "reason"),
            jid=opt_str(data, "jid"),
        )


@dataclass(frozen=True)
class QrUpdated:
    code: str
    expires_at: datetime | None

    @classmethod
    def from_json(cls, data: JSON) -> QrUpdated:
        return cls(code=string(data, "code"), expires_at=opt_time(data, "expires_at"))


@dataclass(frozen=True)
class ReceivedMedia:
    mimetype: str
    filename: str | None
    size: int | None
    url: str

    @classmethod
    def from_json(cls, data: JSON) -> ReceivedMedia:
        return cls(
            mimetype=string(data, "mimetype"),
            filename=opt_str(data, "filename"),
            size=opt_int(data, "size"),
            url=string(data, "url"),
        )


@dataclass(frozen=True)
class Location:
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None

    @classmethod
    def from_json(cls, data: JSON) -> Location:
        return cls(
            latitude=number(data, "latitude"),
            longitude=number(data, "longitude"),
            name=opt_str(data, "name"),
            address=opt_str(data, "address"),
        )


@dataclass(frozen=True)
class Reaction:
    message_id: str
    emoji: str

    @classmethod
    def from_json(cls, data: JSON) -> Reaction:
        return cls(message_id=string(data, "message_id"), emoji=string(data, "emoji"))


@dataclass(frozen=True)
class Poll:
    question: str
    options: list[str]
    selectable_count: int

    @classmethod
    def from_json(cls, data: JSON) -> Poll:
        return cls(
            question=string(data, "question"),
            options=str_list(data, "options"),
            selectable_count=integer(data, "selectable_count", 1),
        )


@dataclass(frozen=True)
class Quoted:
    """The message a received reply quotes, as far as the reply carries it."""

    message_id: str
    sender: str | None  # the JSON field `from`
    kind: str | None
    text: str | None

    @classmethod
    def from_json(cls, data: JSON) -> Quoted:
        return cls(
            message_id=string(data, "message_id"),
            sender=opt_str(data, "from"),
            kind=opt_str(data, "kind"),
            text=opt_str(data, "text"),
        )


@dataclass(frozen=True)
class MessageReceived:
    """A message in one of the account's chats; only the fields of its `kind` are set."""

    message_id: str
    chat: str
    sender: str  # the JSON field `from`
    from_me: bool
    timestamp: datetime | None
    kind: str
    text: str | None = None
    caption: str | None = None
    media: ReceivedMedia | None = None
    location: Location | None = None
    contacts: list[dict[str, Any]] = field(default_factory=list)
    reaction: Reaction | None = None
    poll: Poll | None = None
    reply_to: str | None = None
    group: str | None = None  # in a group: its JID
    participant: Party | None = None  # in a group: who sent it
    mentions: list[str] = field(default_factory=list)
    view_once: bool = False
    forwarded: bool = False
    ephemeral: bool = False
    quoted: Quoted | None = None

    @classmethod
    def from_json(cls, data: JSON) -> MessageReceived:
        media = opt_obj(data, "media")
        location = opt_obj(data, "location")
        reaction = opt_obj(data, "reaction")
        poll = opt_obj(data, "poll")
        quoted = opt_obj(data, "quoted")
        return cls(
            message_id=string(data, "message_id"),
            chat=string(data, "chat"),
            sender=string(data, "from"),
            from_me=boolean(data, "from_me"),
            timestamp=opt_time(data, "timestamp"),
            kind=string(data, "kind"),
            text=opt_str(data, "text"),
            caption=opt_str(data, "caption"),
            media=ReceivedMedia.from_json(media) if media is not None else None,
            location=Location.from_json(location) if location is not None else None,
            contacts=obj_list(data, "contacts"),
            reaction=Reaction.from_json(reaction) if reaction is not None else None,
            group=opt_str(data, "group"),
            participant=Party.maybe(opt_obj(data, "participant")),
            mentions=str_list(data, "mentions"),
            poll=Poll.from_json(poll) if poll is not None else None,
            reply_to=opt_str(data, "reply_to"),
            view_once=boolean(data, "view_once"),
            forwarded=boolean(data, "forwarded"),
            ephemeral=boolean(data, "ephemeral"),
            quoted=Quoted.from_json(quoted) if quoted is not None else None,
        )


@dataclass(frozen=True)
class MessageAck:
    """A send's final outcome: `sent` or `failed` (then it is in the dead letters)."""

    correlation_id: str
    status: str
    message_id: str | None
    error: dict[str, Any] | None
    attempts: int

    @classmethod
    def from_json(cls, data: JSON) -> MessageAck:
        return cls(
            correlation_id=string(data, "correlation_id"),
            status=string(data, "status"),
            message_id=opt_str(data, "message_id"),
            error=opt_obj(data, "error"),
            attempts=integer(data, "attempts"),
        )


@dataclass(frozen=True)
class MessageStatus:
    """A receipt: `delivered`, `read` or `played`."""

    message_id: str
    correlation_id: str | None
    chat: str
    status: str
    timestamp: datetime | None

    @classmethod
    def from_json(cls, data: JSON) -> MessageStatus:
        return cls(
            message_id=string(data, "message_id"),
            correlation_id=opt_str(data, "correlation_id"),
            chat=string(data, "chat"),
            status=string(data, "status"),
            timestamp=opt_time(data, "timestamp"),
        )


@dataclass(frozen=True)
class MessageEdited:
    """A message's text or caption was changed by its sender (`correlation_id`: one of this
    API's sends, edited through the API)."""

    message_id: str
    chat: str
    sender: str  # the JSON field `from`
    from_me: bool
    text: str
    timestamp: datetime | None
    correlation_id: str | None

    @classmethod
    def from_json(cls, data: JSON) -> MessageEdited:
        return cls(
            message_id=string(data, "message_id"),
            chat=string(data, "chat"),
            sender=string(data, "from"),
            from_me=boolean(data, "from_me"),
            text=string(data, "text"),
            timestamp=opt_time(data, "timestamp"),
            correlation_id=opt_str(data, "correlation_id"),
        )


@dataclass(frozen=True)
class MessageRevoked:
    """A message was deleted for everyone by its sender (or a group admin)."""

    message_id: str
    chat: str
    sender: str  # the JSON field `from`
    from_me: bool
    timestamp: datetime | None
    correlation_id: str | None

    @classmethod
    def from_json(cls, data: JSON) -> MessageRevoked:
        return cls(
            message_id=string(data, "message_id"),
            chat=string(data, "chat"),
            sender=string(data, "from"),
            from_me=boolean(data, "from_me"),
            timestamp=opt_time(data, "timestamp"),
            correlation_id=opt_str(data, "correlation_id"),
        )


@dataclass(frozen=True)
class MessageReaction:
    """Someone reacted to `message_id`, or took the reaction back (`removed`, empty emoji)."""

    message_id: str
    chat: str
    sender: str  # the JSON field `from`
    from_me: bool
    emoji: str
    removed: bool
    timestamp: datetime | None
    correlation_id: str | None

    @classmethod
    def from_json(cls, data: JSON) -> MessageReaction:
        return cls(
            message_id=string(data, "message_id"),
            chat=string(data, "chat"),
            sender=string(data, "from"),
            from_me=boolean(data, "from_me"),
            emoji=string(data, "emoji"),
            removed=boolean(data, "removed"),
            timestamp=opt_time(data, "timestamp"),
            correlation_id=opt_str(data, "correlation_id"),
        )


@dataclass(frozen=True)
class PollVote:
    """A vote in a poll, decrypted: the options the voter chose now (empty: taken back)."""

    poll_message_id: str
    chat: str
    sender: str  # the JSON field `from`
    from_me: bool
    options: list[str]
    timestamp: datetime | None
    correlation_id: str | None

    @classmethod
    def from_json(cls, data: JSON) -> PollVote:
        return cls(
            poll_message_id=string(data, "poll_message_id"),
            chat=string(data, "chat"),
            sender=string(data, "from"),
            from_me=boolean(data, "from_me"),
            options=str_list(data, "options"),
            timestamp=opt_time(data, "timestamp"),
            correlation_id=opt_str(data, "correlation_id"),
        )


@dataclass(frozen=True)
class PresenceChanged:
    """A subscribed contact came online, went offline, or is typing or recording in `chat`."""

    chat: str
    contact: str
    state: str
    last_seen: datetime | None

    @classmethod
    def from_json(cls, data: JSON) -> PresenceChanged:
        return cls(
            chat=string(data, "chat"),
            contact=string(data, "contact"),
            state=string(data, "state"),
            last_seen=opt_time(data, "last_seen"),
        )


@dataclass(frozen=True)
class CallEvent:
    """A call to the account: `offered`, `accepted`, `rejected` or `missed`."""

    call_id: str
    from_: str
    status: str
    video: bool
    timestamp: datetime | None

    @classmethod
    def from_json(cls, data: JSON) -> CallEvent:
        return cls(
            call_id=string(data, "call_id"),
            from_=string(data, "from"),
            status=string(data, "status"),
            video=boolean(data, "video"),
            timestamp=opt_time(data, "timestamp"),
        )


@dataclass(frozen=True)
class ContactUpdated:
    """A contact changed its profile; only what changed is set (`picture`: set | removed)."""

    contact: str
    push_name: str | None
    about: str | None
    business_name: str | None
    picture: str | None

    @classmethod
    def from_json(cls, data: JSON) -> ContactUpdated:
        return cls(
            contact=string(data, "contact"),
            push_name=opt_str(data, "push_name"),
            about=opt_str(data, "about"),
            business_name=opt_str(data, "business_name"),
            picture=opt_str(data, "picture"),
        )


@dataclass(frozen=True)
class BlocklistUpdated:
    contact: str
    action: str  # block | unblock

    @classmethod
    def from_json(cls, data: JSON) -> BlocklistUpdated:
        return cls(contact=string(data, "contact"), action=string(data, "action"))


@dataclass(frozen=True)
class HistorySynced:
    """A part of the history sent after linking was kept (`history_sync`)."""

    chats: int
    messages: int
    skipped: int
    progress: int | None
    done: bool

    @classmethod
    def from_json(cls, data: JSON) -> HistorySynced:
        return cls(
            chats=integer(data, "chats"),
            messages=integer(data, "messages"),
            skipped=integer(data, "skipped"),
            progress=opt_int(data, "progress"),
            done=boolean(data, "done"),
        )


@dataclass(frozen=True)
class SendPaused:
    """The instance's sending paused: its circuit breaker opened (`send_paused`)."""

    reason: str
    paused_until: datetime | None
    cooldown_s: int
    trips: int

    @classmethod
    def from_json(cls, data: JSON) -> SendPaused:
        return cls(
            reason=string(data, "reason"),
            paused_until=opt_time(data, "paused_until"),
            cooldown_s=integer(data, "cooldown_s"),
            trips=integer(data, "trips"),
        )


@dataclass(frozen=True)
class UnknownData:
    """The data of an event this version of the client does not know."""

    raw: dict[str, Any]


@dataclass(frozen=True)
class Event:
    """The envelope every event has; `data` is typed by `event` (UnknownData otherwise), and
    `raw_data` is the data object as it came."""

    id: str
    event: str
    instance: str
    timestamp: datetime | None
    data: EventData
    raw_data: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


class EventParseError(ValueError):
    """The body is not an event envelope."""


class SSEDecoder:
    """The text/event-stream format, line by line: `feed(line)` returns the event a blank
    line completes. Comments (`: keep-alive`) are skipped."""

    def __init__(self) -> None:
        self._data: list[str] = []
        self._event = ""
        self.last_event_id: str | None = None

    def feed(self, line: str) -> Event | None:
        line = line.rstrip("\r\n")
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            self.last_event_id = value
        return None

    def _dispatch(self) -> Event | None:
        data, self._data = self._data, []
        self._event = ""
        if not data:
            return None
        return parse_event("\n".join(data))


@dataclass(frozen=True)
class Party:
    """A WhatsApp user: the JID, and the phone number where WhatsApp shows it."""

    jid: str
    phone: str | None

    @classmethod
    def from_json(cls, data: JSON) -> Party:
        return cls(jid=string(data, "jid"), phone=opt_str(data, "phone"))

    @classmethod
    def maybe(cls, data: JSON | None) -> Party | None:
        return None if data is None else cls.from_json(data)


@dataclass(frozen=True)
class GroupUpdate:
    """A group's subject, description, settings or picture changed, or its link was reset;
    `changes` holds only what changed."""

    group: str
    actor: Party | None
    changes: dict[str, Any]
    timestamp: datetime | None

    @classmethod
    def from_json(cls, data: JSON) -> GroupUpdate:
        return cls(
            group=string(data, "group"),
            actor=Party.maybe(opt_obj(data, "actor")),
            changes=opt_obj(data, "changes") or {},
            timestamp=opt_time(data, "timestamp"),
        )


@dataclass(frozen=True)
class GroupParticipants:
    """People joined, left, were added, removed, promoted or demoted, or asked to join."""

    group: str
    actor: Party | None
    action: str
    participants: list[Party]
    timestamp: datetime | None

    @classmethod
    def from_json(cls, data: JSON) -> GroupParticipants:
        return cls(
            group=string(data, "group"),
            actor=Party.maybe(opt_obj(data, "actor")),
            action=string(data, "action"),
            participants=[Party.from_json(item) for item in obj_list(data, "participants")],
            timestamp=opt_time(data, "timestamp"),
        )


EventData = (
    ConnectionUpdate
    | QrUpdated
    | MessageReceived
    | MessageAck
    | MessageStatus
    | MessageEdited
    | MessageRevoked
    | MessageReaction
    | PollVote
    | PresenceChanged
    | CallEvent
    | ContactUpdated
    | BlocklistUpdated
    | GroupUpdate
    | GroupParticipants
    | HistorySynced
    | SendPaused
    | UnknownData
)

_DATA_TYPES: dict[str, Any] = {
    "connection_update": ConnectionUpdate,
    "qr_updated": QrUpdated,
    "message_received": MessageReceived,
    "message_ack": MessageAck,
    "message_status": MessageStatus,
    "message_edited": MessageEdited,
    "message_revoked": MessageRevoked,
    "message_reaction": MessageReaction,
    "poll_vote": PollVote,
    "presence": PresenceChanged,
    "call": CallEvent,
    "contact_update": ContactUpdated,
    "blocklist_update": BlocklistUpdated,
    "group_update": GroupUpdate,
    "group_participants": GroupParticipants,
    "history_sync": HistorySynced,
    "send_paused": SendPaused,
}


def parse_event(body: bytes | str | Mapping[str, Any]) -> Event:
    """A typed event from a webhook body (raw bytes or text) or an already parsed object.

    Check the signature (verify_signature) over the raw bytes first, then parse them.
    """
    if isinstance(body, Mapping):
        envelope: Any = body
    else:
        try:
            envelope = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise EventParseError(f"not JSON: {exc}") from exc
    if not isinstance(envelope, Mapping) or not isinstance(envelope.get("event"), str):
        raise EventParseError("not an event envelope (no 'event' name)")
    name: str = envelope["event"]
    data = opt_obj(envelope, "data") or {}
    kind = _DATA_TYPES.get(name)
    typed: EventData = kind.from_json(data) if kind is not None else UnknownData(raw=data)
    return Event(
        id=string(envelope, "id"),
        event=name,
        instance=string(envelope, "instance"),
        timestamp=parse_time(envelope.get("timestamp")),
        data=typed,
        raw_data=data,
    )
