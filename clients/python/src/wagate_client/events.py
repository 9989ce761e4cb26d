"""Events: webhook signature check, typed parsing, and the Server-Sent Events wire format."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from wagate_client._json import (
    JSON,
    FromJson,
    JsonKey,
    WhenAbsent,
    opt_obj,
    parse_time,
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
class ConnectionUpdate(FromJson):
    status: str
    previous: str | None
    reason: str | None
    jid: str | None


@dataclass(frozen=True)
class QrUpdated(FromJson):
    code: str
    expires_at: datetime | None


@dataclass(frozen=True)
class ReceivedMedia(FromJson):
    mimetype: str
    filename: str | None
    size: int | None
    url: str


@dataclass(frozen=True)
class Location(FromJson):
    latitude: float
    longitude: float
    name: str | None = None
    address: str | None = None


@dataclass(frozen=True)
class Reaction(FromJson):
    message_id: str
    emoji: str


@dataclass(frozen=True)
class Poll(FromJson):
    question: str
    options: list[str]
    selectable_count: Annotated[int, WhenAbsent(1)]


@dataclass(frozen=True)
class Quoted(FromJson):
    """The message a received reply quotes, as far as the reply carries it."""

    message_id: str
    sender: Annotated[str | None, JsonKey("from")]
    kind: str | None
    text: str | None


@dataclass(frozen=True)
class MessageReceived(FromJson):
    """A message in one of the account's chats; only the fields of its `kind` are set."""

    message_id: str
    chat: str
    sender: Annotated[str, JsonKey("from")]
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


@dataclass(frozen=True)
class MessageAck(FromJson):
    """A send's final outcome: `sent` or `failed` (then it is in the dead letters)."""

    correlation_id: str
    status: str
    message_id: str | None
    error: dict[str, Any] | None
    attempts: int


@dataclass(frozen=True)
class MessageStatus(FromJson):
    """A receipt: `delivered`, `read` or `played`."""

    message_id: str
    correlation_id: str | None
    chat: str
    status: str
    timestamp: datetime | None


@dataclass(frozen=True)
class MessageEdited(FromJson):
    """A message's text or caption was changed by its sender (`correlation_id`: one of this
    API's sends, edited through the API)."""

    message_id: str
    chat: str
    sender: Annotated[str, JsonKey("from")]
    from_me: bool
    text: str
    timestamp: datetime | None
    correlation_id: str | None


@dataclass(frozen=True)
class MessageRevoked(FromJson):
    """A message was deleted for everyone by its sender (or a group admin)."""

    message_id: str
    chat: str
    sender: Annotated[str, JsonKey("from")]
    from_me: bool
    timestamp: datetime | None
    correlation_id: str | None


@dataclass(frozen=True)
class MessageReaction(FromJson):
    """Someone reacted to `message_id`, or took the reaction back (`removed`, empty emoji)."""

    message_id: str
    chat: str
    sender: Annotated[str, JsonKey("from")]
    from_me: bool
    emoji: str
    removed: bool
    timestamp: datetime | None
    correlation_id: str | None


@dataclass(frozen=True)
class PollVote(FromJson):
    """A vote in a poll, decrypted: the options the voter chose now (empty: taken back)."""

    poll_message_id: str
    chat: str
    sender: Annotated[str, JsonKey("from")]
    from_me: bool
    options: list[str]
    timestamp: datetime | None
    correlation_id: str | None


@dataclass(frozen=True)
class PresenceChanged(FromJson):
    """A subscribed contact came online, went offline, or is typing or recording in `chat`."""

    chat: str
    contact: str
    state: str
    last_seen: datetime | None


@dataclass(frozen=True)
class CallEvent(FromJson):
    """A call to the account: `offered`, `accepted`, `rejected` or `missed`."""

    call_id: str
    from_: Annotated[str, JsonKey("from")]
    status: str
    video: bool
    timestamp: datetime | None


@dataclass(frozen=True)
class ContactUpdated(FromJson):
    """A contact changed its profile; only what changed is set (`picture`: set | removed)."""

    contact: str
    push_name: str | None
    about: str | None
    business_name: str | None
    picture: str | None


@dataclass(frozen=True)
class BlocklistUpdated(FromJson):
    contact: str
    action: str  # block | unblock


@dataclass(frozen=True)
class HistorySynced(FromJson):
    """A part of the history sent after linking was kept (`history_sync`)."""

    chats: int
    messages: int
    skipped: int
    progress: int | None
    done: bool


@dataclass(frozen=True)
class SendPaused(FromJson):
    """The instance's sending paused: its circuit breaker opened (`send_paused`)."""

    reason: str
    paused_until: datetime | None
    cooldown_s: int
    trips: int


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
class Party(FromJson):
    """A WhatsApp user: the JID, and the phone number where WhatsApp shows it."""

    jid: str
    phone: str | None

    @classmethod
    def maybe(cls, data: JSON | None) -> Party | None:
        return None if data is None else cls.from_json(data)


@dataclass(frozen=True)
class GroupUpdate(FromJson):
    """A group's subject, description, settings or picture changed, or its link was reset;
    `changes` holds only what changed."""

    group: str
    actor: Party | None
    changes: dict[str, Any]
    timestamp: datetime | None


@dataclass(frozen=True)
class GroupParticipants(FromJson):
    """People joined, left, were added, removed, promoted or demoted, or asked to join."""

    group: str
    actor: Party | None
    action: str
    participants: list[Party]
    timestamp: datetime | None


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
