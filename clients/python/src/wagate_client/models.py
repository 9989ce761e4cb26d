"""Typed results of the API's routes, built from the JSON answers.

Every result keeps the whole JSON object in `raw`, so a field a newer gateway adds is not
lost; fields this version does not know are ignored otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from wagate_client._json import (
    JSON,
    FromJson,
    WhenAbsent,
    opt_str,
    opt_time,
    string,
)


@dataclass(frozen=True)
class ProxyInfo(FromJson):
    """What the gateway shows of an instance's proxy: never its user name or password."""

    scheme: str
    host: str
    port: int
    credentials_set: bool


@dataclass(frozen=True)
class InstanceSettings(FromJson):
    send_interval_ms: int = 0
    send_jitter_ms: int = 0
    max_attempts: int = 3
    reject_calls: bool = False
    always_online: bool = False
    proxy: ProxyInfo | None = None
    history_retention_days: int = 90


@dataclass(frozen=True)
class Webhook(FromJson):
    url: str
    events: list[str] | None
    secret_set: bool
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class Instance(FromJson):
    name: str
    engine: str
    status: str
    jid: str | None
    phone: str | None
    last_error: str | None
    connected_at: datetime | None
    last_event_at: datetime | None
    node: str | None
    settings: InstanceSettings
    webhook: Webhook | None
    created_at: datetime | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class InstancePage(FromJson):
    instances: list[Instance]
    next_cursor: str | None


@dataclass(frozen=True)
class CreatedInstance:
    """A new instance and its token: the only time the gateway shows the token."""

    instance: Instance
    token: str

    @classmethod
    def from_json(cls, data: JSON) -> CreatedInstance:
        return cls(instance=Instance.from_json(data), token=string(data, "token"))


@dataclass(frozen=True)
class Status(FromJson):
    status: str


@dataclass(frozen=True)
class QrCode(FromJson):
    code: str
    image: str
    expires_at: datetime | None


@dataclass(frozen=True)
class SendResult:
    """A send's answer: `status` is `sent` (sync) or `queued` (async, batch, retry)."""

    correlation_id: str
    status: str
    message_id: str | None = None
    timestamp: datetime | None = None
    location: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: JSON, location: str | None = None) -> SendResult:
        return cls(
            correlation_id=string(data, "correlation_id"),
            status=string(data, "status"),
            message_id=opt_str(data, "message_id"),
            timestamp=opt_time(data, "timestamp"),
            location=location,
            raw=dict(data),
        )


@dataclass(frozen=True)
class BatchItem(FromJson):
    """One item of a batch, in order: queued (`correlation_id`) or refused (`error`)."""

    correlation_id: str | None
    status: str | None
    error: dict[str, Any] | None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class MessageRecord(FromJson):
    correlation_id: str
    kind: str
    to: str
    status: str
    message_id: str | None
    error: dict[str, Any] | None
    attempts: int
    created_at: datetime | None
    updated_at: datetime | None
    sent_at: datetime | None
    # After the send: the text or caption it was edited to, its deletion ("everyone": revoked
    # for the chat, "me": on this device only) and where it was forwarded.
    edited_text: str | None = None
    edited_at: datetime | None = None
    revoked: bool = False
    revoked_for: str | None = None
    revoked_at: datetime | None = None
    forwards: list[Forward] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class Forward(FromJson):
    """A forward of one of the API's sends: to whom, as which WhatsApp message."""

    to: str
    message_id: str
    at: datetime | None


@dataclass(frozen=True)
class ActionResult(FromJson):
    """What WhatsApp answered to a change after the send (forward, reaction, pin, vote): the
    id and time of the message that carries it."""

    message_id: str
    timestamp: datetime | None


@dataclass(frozen=True)
class MessagePage(FromJson):
    messages: list[MessageRecord]
    next_cursor: str | None


@dataclass(frozen=True)
class DeadLetter(FromJson):
    correlation_id: str
    instance: str
    kind: str
    to: str
    error: dict[str, Any] | None
    attempts: int
    failed_at: datetime | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class DeadLetterPage(FromJson):
    dead_letters: list[DeadLetter]
    next_cursor: str | None


@dataclass(frozen=True)
class RetriedAll(FromJson):
    retried: int
    correlation_ids: list[str]
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class ContactCheck(FromJson):
    phone: str
    on_whatsapp: bool
    jid: str | None


@dataclass(frozen=True)
class Contact(FromJson):
    """Who a contact is (GET /contacts/{contact})."""

    jid: str
    phone: str | None
    lid: str | None
    name: str | None
    push_name: str | None
    business: bool
    business_name: str | None
    about: str | None
    picture_url: str | None
    on_whatsapp: bool


@dataclass(frozen=True)
class ProfilePicture(FromJson):
    id: str
    url: str


@dataclass(frozen=True)
class LidMapping(FromJson):
    lid: str
    jid: str
    phone: str


@dataclass(frozen=True)
class Profile(FromJson):
    """The account's own profile."""

    jid: str
    phone: str | None
    name: str | None
    about: str | None
    picture_url: str | None


@dataclass(frozen=True)
class Media:
    """Media bytes downloaded from the gateway (a received message's media)."""

    content: bytes
    content_type: str
    filename: str | None


@dataclass(frozen=True)
class DeliveryAttempt(FromJson):
    attempted_at: datetime | None
    status_code: int | None
    error: str | None
    duration_ms: int


@dataclass(frozen=True)
class Delivery(FromJson):
    """One event to one webhook URL; `history` is filled only by `get_delivery`."""

    id: str
    event_id: str
    event: str
    url: str
    target: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime | None
    delivered_at: datetime | None
    history: list[DeliveryAttempt] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class DeliveryPage(FromJson):
    deliveries: list[Delivery]
    next_cursor: str | None


@dataclass(frozen=True)
class Faults(FromJson):
    """The simulator's fault settings for an instance, after the change."""

    send_latency_ms: int
    fail_next: int
    fail_kind: str


@dataclass(frozen=True)
class OutboxMessage(FromJson):
    """A message the simulated network received from the gateway."""

    message_id: str
    to: str
    kind: str
    body: dict[str, Any]
    sent_at: datetime | None


@dataclass(frozen=True)
class PresenceSent(FromJson):
    state: str
    sent_at: datetime | None


@dataclass(frozen=True)
class SimulatedPresence(FromJson):
    """The presence an instance sent the simulated network: `shown` is what its contacts see
    (None before any), `sent` the last ones, oldest first."""

    shown: str | None
    sent: list[PresenceSent]


@dataclass(frozen=True)
class ClusterNode(FromJson):
    id: str
    role: str
    address: str | None
    live: bool
    started_at: datetime | None
    last_seen_at: datetime | None
    stopped_at: datetime | None
    instances: list[str]


@dataclass(frozen=True)
class Cluster(FromJson):
    mode: str
    node: str
    nodes: list[ClusterNode]
    unheld: list[str]


@dataclass(frozen=True)
class Readiness:
    """`/readyz`: answered whether ready or not (a 503 is not raised: it is the answer)."""

    ready: bool
    database: str
    queue: str
    engines: Any
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: JSON, ready: bool) -> Readiness:
        return cls(
            ready=ready,
            database=string(data, "database"),
            queue=string(data, "queue"),
            engines=data.get("engines"),
            raw=dict(data),
        )


__all__ = [
    "BatchItem",
    "Cluster",
    "ClusterNode",
    "ContactCheck",
    "CreatedInstance",
    "DeadLetter",
    "Delivery",
    "DeliveryAttempt",
    "DeliveryPage",
    "Faults",
    "Instance",
    "InstanceSettings",
    "Media",
    "MessagePage",
    "MessageRecord",
    "OutboxMessage",
    "QrCode",
    "Readiness",
    "SendResult",
    "Status",
    "Webhook",
]


@dataclass(frozen=True)
class SinkStatus(FromJson):
    """One consumer of the events (`GET /v1/sinks`); the backlog fields are None for a live
    sink, `target` and `connected` for all but the broker transports."""

    name: str
    kind: str
    target: str | None
    connected: bool | None
    pending: int | None
    retrying: int | None
    lag_s: float | None
    oldest_pending_at: datetime | None
    last_error: str | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class SinkFilter(FromJson):
    """The events of an instance a broker transport publishes; `events` None: no filter of
    the instance's own."""

    sink: str
    events: list[str] | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


# --- chats and history ---------------------------------------------------------------------


@dataclass(frozen=True)
class Chat(FromJson):
    jid: str
    name: str | None
    kind: str
    unread: int
    last_message: dict[str, Any] | None
    last_message_at: datetime | None
    archived: bool
    pinned: bool
    muted_until: datetime | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class ChatPage(FromJson):
    chats: list[Chat]
    next_cursor: str | None


@dataclass(frozen=True)
class StoredMessage(FromJson):
    """A message of the history, either way."""

    message_id: str
    chat: str
    sender: str | None
    from_me: bool
    kind: str
    text: str | None
    caption: str | None
    timestamp: datetime | None
    status: str
    edited_text: str | None
    revoked: bool
    reply_to: str | None
    reactions: dict[str, Any]
    media: dict[str, Any] | None
    correlation_id: str | None
    cursor: str
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class HistoryPage(FromJson):
    """A chat's messages; `before` pages back, `after` forward (to poll for new ones)."""

    messages: list[StoredMessage]
    before: str | None
    after: str | None


@dataclass(frozen=True)
class SearchPage(FromJson):
    messages: list[StoredMessage]
    next_cursor: str | None


@dataclass(frozen=True)
class AddressBookEntry(FromJson):
    """A contact of the address book (GET /contacts): its JID and the name it gave itself."""

    jid: str
    push_name: str | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class ContactPage(FromJson):
    contacts: list[AddressBookEntry]
    next_cursor: str | None


@dataclass(frozen=True)
class GroupParticipant(FromJson):
    jid: str
    phone: str | None
    role: Annotated[str, WhenAbsent("member")]  # member | admin | superadmin


@dataclass(frozen=True)
class ParticipantResult(FromJson):
    """What became of one participant of a request: `ok`, or why not (`error`)."""

    jid: str
    phone: str | None
    ok: bool
    error: str | None
    invited: bool


@dataclass(frozen=True)
class Group(FromJson):
    jid: str
    subject: str
    description: str | None
    owner: str | None
    created_at: datetime | None
    announce: bool
    locked: bool
    join_approval: bool
    ephemeral_s: int
    participants: list[GroupParticipant]
    # Only in the answer of a create: the participants that could not be added.
    failed: list[ParticipantResult] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class GroupPage(FromJson):
    groups: list[Group]
    next_cursor: str | None


@dataclass(frozen=True)
class JoinRequest(FromJson):
    jid: str
    phone: str | None
    requested_at: datetime | None


@dataclass(frozen=True)
class InviteLink(FromJson):
    code: str
    url: str
