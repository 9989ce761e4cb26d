"""The engine interface: what the gateway needs from a WhatsApp implementation.

An `Engine` makes one `EngineClient` per instance. A client reports everything that happens
to it (QR codes, connection changes, inbound messages, receipts) as `EngineEvent` values
through the sink it was given; the client manager turns those into statuses and events.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

# The failures live in the core layer (the API maps them to its errors); engines import them
# from here.
from wagate.engine_failures import (
    EngineFailure,
    NotConnectedError,
    NotPairingError,
    PermanentEngineError,
    TransientEngineError,
)

if TYPE_CHECKING:
    from wagate.engines.actions.spec import Action

Req = TypeVar("Req")
Res = TypeVar("Res")

__all__ = [
    "EngineFailure",
    "NotConnectedError",
    "NotPairingError",
    "PermanentEngineError",
    "TransientEngineError",
]


@dataclass(frozen=True, slots=True)
class InstanceRef:
    id: int
    name: str
    jid: str | None = None
    # The exact device JID it linked as (whatsmeow: "user:device@server"), if known.
    device: str | None = None
    # The instance's proxy URL, credentials included, in the ref an engine's client is made
    # with (an engine that dials the network goes through it): never in a repr, which may
    # reach a log line, and no part of which instance this is.
    proxy: str | None = field(default=None, repr=False, compare=False)


# --- events a client reports ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class QrCode:
    code: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class Connected:
    jid: str
    phone: str | None
    device: str | None = None  # the exact device JID, where the engine has one


@dataclass(frozen=True, slots=True)
class ConnectionLost:
    """The connection dropped; the manager reconnects with backoff."""

    reason: str


@dataclass(frozen=True, slots=True)
class ConnectFailed:
    reason: str
    permanent: bool = False


@dataclass(frozen=True, slots=True)
class LoggedOut:
    """The device was unlinked (from the phone, or banned): no reconnect."""

    reason: str = "logged_out"


@dataclass(frozen=True, slots=True)
class StreamReplaced:
    """Another client took over this device's connection: no reconnect (it would loop)."""


@dataclass(frozen=True, slots=True)
class QrTimeout:
    """No scan before the last QR code expired."""


@dataclass(frozen=True, slots=True)
class InboundMedia:
    data: bytes
    mimetype: str
    filename: str | None = None


@dataclass(frozen=True, slots=True)
class PendingMedia:
    """The media a history message announces, not fetched with it (a whole history's media
    would hold the import for hours): what it is, and what the engine needs to fetch it later
    (`handle`, opaque outside the engine: FETCH_MEDIA takes it back)."""

    mimetype: str
    filename: str | None = None
    size: int | None = None
    handle: bytes = b""


@dataclass(frozen=True, slots=True)
class InboundMessage:
    message_id: str
    chat: str
    sender: str
    from_me: bool
    timestamp: datetime
    kind: str
    text: str | None = None
    caption: str | None = None
    media: InboundMedia | None = None
    location: dict[str, Any] | None = None
    contacts: list[dict[str, Any]] | None = None
    reaction: dict[str, Any] | None = None
    poll: dict[str, Any] | None = None
    reply_to: str | None = None
    view_once: bool = False  # a photo, video or voice message to be viewed once
    forwarded: bool = False
    ephemeral: bool = False  # sent in a chat with disappearing messages on
    # The message it replies to, as the reply carries it: message_id, and where known from,
    # kind and text (a caption counts as text).
    quoted: dict[str, Any] | None = None
    push_name: str | None = None  # the name the sender gave themselves
    mentions: tuple[str, ...] = ()  # the JIDs the sender mentioned
    pending_media: PendingMedia | None = None  # a history message's media, fetched later


@dataclass(frozen=True, slots=True)
class Receipt:
    message_ids: tuple[str, ...]
    chat: str
    status: str  # delivered | read | played
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class IncomingCall:
    """A call to the account: offered (ringing), then accepted on another device, rejected,
    or missed (the caller hung up, or nobody answered)."""

    call_id: str
    caller: str
    status: str = "offered"  # offered | accepted | rejected | missed
    video: bool = False
    timestamp: datetime | None = None


@dataclass(frozen=True, slots=True)
class PresenceUpdate:
    """A subscribed contact's presence: online or offline (`chat` is the contact), or typing
    and recording in a chat (`chat` may be a group)."""

    chat: str
    contact: str
    state: str  # available | unavailable | typing | recording | paused
    timestamp: datetime
    last_seen: datetime | None = None


@dataclass(frozen=True, slots=True)
class ContactUpdate:
    """A contact changed its push name, picture or about. `changes` holds the new values
    (`push_name`, `about`, `picture`: "set" | "removed")."""

    contact: str
    changes: dict[str, Any]
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class BlocklistUpdate:
    """The account blocked or unblocked a contact (here, or from another device)."""

    contact: str
    action: str  # block | unblock
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class GroupUpdate:
    """A group's subject, description, settings, picture or invite link changed. `changes`
    holds the new values by field (`subject`, `description`, `announce`, `locked`,
    `join_approval`, `ephemeral_s`, `picture`: "set" | "removed", `invite`: "reset")."""

    group: str
    actor: str | None  # who did it, None when WhatsApp does not say
    changes: dict[str, Any]
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class GroupParticipantsUpdate:
    """People joined, left, were added, removed, promoted or demoted, or asked to join."""

    group: str
    actor: str | None
    action: str  # joined | left | added | removed | promoted | demoted | join_requested
    participants: list[str]
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class MessageEdited:
    """The sender changed the text or caption of a message (`from_me`: this account did, from
    the phone or another device)."""

    message_id: str
    chat: str
    sender: str
    from_me: bool
    text: str
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class MessageRevoked:
    """The sender deleted a message for everyone."""

    message_id: str
    chat: str
    sender: str
    from_me: bool
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class PollVote:
    """Someone voted in a poll (decrypted): the options they chose now, empty when they took
    their vote back."""

    poll_message_id: str
    chat: str
    voter: str
    from_me: bool
    options: list[str]
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class HistoryChat:
    """One conversation of a history sync, with the messages of it this part carries (their
    media is not fetched: `media` is None, `pending_media` says what it is and how to fetch
    it)."""

    jid: str
    name: str | None
    unread: int | None  # as the phone counts it, when it says
    messages: tuple[InboundMessage, ...]


@dataclass(frozen=True, slots=True)
class HistoryBatch:
    """A part of the history WhatsApp sends a device after linking (or on demand): the
    conversations on the phone, in parts. `final`: the last part of this sync."""

    chats: tuple[HistoryChat, ...]
    progress: int | None  # percent of the whole sync, when WhatsApp says
    final: bool
    push_names: dict[str, str] = field(default_factory=dict)  # JID -> the name they gave


# Changes to messages already in a chat: the messages feature publishes them.
MessageChange = MessageEdited | MessageRevoked | PollVote

# Events about the account (not its connection): the client manager hands them to the features
# (messages, groups, ...) instead of changing the instance's status.
AccountEvent = (
    InboundMessage
    | Receipt
    | MessageEdited
    | MessageRevoked
    | PollVote
    | GroupUpdate
    | GroupParticipantsUpdate
    | PresenceUpdate
    | ContactUpdate
    | BlocklistUpdate
    | HistoryBatch
)

EngineEvent = (
    QrCode
    | Connected
    | ConnectionLost
    | ConnectFailed
    | LoggedOut
    | StreamReplaced
    | QrTimeout
    | InboundMessage
    | Receipt
    | IncomingCall
    | MessageEdited
    | MessageRevoked
    | PollVote
    | GroupUpdate
    | GroupParticipantsUpdate
    | PresenceUpdate
    | ContactUpdate
    | BlocklistUpdate
    | HistoryBatch
)
EventSink = Callable[[EngineEvent], None]


# --- actions -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutgoingMedia:
    data: bytes
    mimetype: str
    filename: str | None = None


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A validated send: `body` holds the kind's fields (text, caption, latitude, ...)."""

    kind: str
    to_jid: str
    body: dict[str, Any]
    correlation_id: str
    media: OutgoingMedia | None = None
    reply_to: str | None = None
    mentions: tuple[str, ...] = ()
    # To a group: mention every participant (the engine knows who they are when it sends).
    mention_everyone: bool = False


@dataclass(frozen=True, slots=True)
class SendResult:
    message_id: str
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class NumberCheck:
    phone: str
    on_whatsapp: bool
    jid: str | None


@dataclass(slots=True)
class EngineHealth:
    ok: bool
    detail: str = "ok"
    extra: dict[str, Any] = field(default_factory=dict)


class EngineClient(Protocol):
    """One instance's live client. At most one exists per instance (the manager sees to it)."""

    async def start(self) -> None:
        """Begin connecting; return at once. Progress arrives as events."""

    async def stop(self) -> None:
        """Close the connection and end the client; keep the device session."""

    async def logout(self) -> None:
        """Unlink the device and delete its session data."""

    async def pair_phone(self, phone: str) -> str:
        """Ask for a phone-number link code (only while pairing)."""

    async def call(self, action: Action[Req, Res], request: Req) -> Res:
        """Run a declared engine action (wagate.engines.actions) on this client."""


class Engine(Protocol):
    name: str

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    def create_client(self, instance: InstanceRef, sink: EventSink) -> EngineClient: ...

    async def forget(self, instance: InstanceRef) -> None:
        """Delete the device session of an instance (logout without a live client, delete)."""

    async def health(self) -> EngineHealth: ...
