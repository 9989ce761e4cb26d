"""Typed results of the API's routes, built from the JSON answers.

Every result keeps the whole JSON object in `raw`, so a field a newer gateway adds is not
lost; fields this version does not know are ignored otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from wagate_client._json import (
    JSON,
    boolean,
    integer,
    obj,
    obj_list,
    opt_int,
    opt_obj,
    opt_str,
    opt_time,
    str_list,
    string,
)


@dataclass(frozen=True)
class ProxyInfo:
    """What the gateway shows of an instance's proxy: never its user name or password."""

    scheme: str
    host: str
    port: int
    credentials_set: bool

    @classmethod
    def from_json(cls, data: JSON) -> ProxyInfo:
        return cls(
            scheme=string(data, "scheme"),
            host=string(data, "host"),
            port=integer(data, "port"),
            credentials_set=boolean(data, "credentials_set"),
        )


@dataclass(frozen=True)
class InstanceSettings:
    send_interval_ms: int = 0
    send_jitter_ms: int = 0
    max_attempts: int = 3
    reject_calls: bool = False
    always_online: bool = False
    proxy: ProxyInfo | None = None
    history_retention_days: int = 90

    @classmethod
    def from_json(cls, data: JSON) -> InstanceSettings:
        proxy = opt_obj(data, "proxy")
        return cls(
            send_interval_ms=integer(data, "send_interval_ms"),
            send_jitter_ms=integer(data, "send_jitter_ms"),
            max_attempts=integer(data, "max_attempts", 3),
            reject_calls=boolean(data, "reject_calls"),
            always_online=boolean(data, "always_online"),
            proxy=ProxyInfo.from_json(proxy) if proxy else None,
            history_retention_days=integer(data, "history_retention_days", 90),
        )


@dataclass(frozen=True)
class Webhook:
    url: str
    events: list[str] | None
    secret_set: bool
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: JSON) -> Webhook:
        events = data.get("events")
        return cls(
            url=string(data, "url"),
            events=str_list(data, "events") if isinstance(events, list) else None,
            secret_set=boolean(data, "secret_set"),
            raw=dict(data),
        )


@dataclass(frozen=True)
class Instance:
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

    @classmethod
    def from_json(cls, data: JSON) -> Instance:
        webhook = opt_obj(data, "webhook")
        return cls(
            name=string(data, "name"),
            engine=string(data, "engine"),
            status=string(data, "status"),
            jid=opt_str(data, "jid"),
            phone=opt_str(data, "phone"),
            last_error=opt_str(data, "last_error"),
            connected_at=opt_time(data, "connected_at"),
            last_event_at=opt_time(data, "last_event_at"),
            node=opt_str(data, "node"),
            settings=InstanceSettings.from_json(obj(data.get("settings"))),
            webhook=Webhook.from_json(webhook) if webhook is not None else None,
            created_at=opt_time(data, "created_at"),
            raw=dict(data),
        )


@dataclass(frozen=True)
class InstancePage:
    instances: list[Instance]
    next_cursor: str | None

    @classmethod
    def from_json(cls, data: JSON) -> InstancePage:
        return cls(
            instances=[Instance.from_json(item) for item in obj_list(data, "instances")],
            next_cursor=opt_str(data, "next_cursor"),
        )


@dataclass(frozen=True)
class CreatedInstance:
    """A new instance and its token: the only time the gateway shows the token."""

    instance: Instance
    token: str

    @classmethod
    def from_json(cls, data: JSON) -> CreatedInstance:
        return cls(instance=Instance.from_json(data), token=string(data, "token"))


@dataclass(frozen=True)
class Status:
    status: str

    @classmethod
    def from_json(cls, data: JSON) -> Status:
        return cls(status=string(data, "status"))


@dataclass(frozen=True)
class QrCode:
    code: str
    image: str
    expires_at: datetime | None

    @classmethod
    def from_json(cls, data: JSON) -> QrCode:
        return cls(
            code=string(data, "code"),
            image=string(data, "image"),
            expires_at=opt_time(data, "expires_at"),
        )


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
class BatchItem:
    """One item of a batch, in order: queued (`correlation_id`) or refused (`error`)."""

    correlation_id: str | None
    status: str | None
    error: dict[str, Any] | None

    @property
    def ok(self) -> bool:
        return self.error is None

    @classmethod
    def from_json(cls, data: JSON) -> BatchItem:
        return cls(
            correlation_id=opt_str(data, "correlation_id"),
            status=opt_str(data, "status"),
            error=opt_obj(data, "error"),
        )


@dataclass(frozen=True)
class MessageRecord:
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

    @classmethod
    def from_json(cls, data: JSON) -> MessageRecord:
        return cls(
            correlation_id=string(data, "correlation_id"),
            kind=string(data, "kind"),
            to=string(data, "to"),
            status=string(data, "status"),
            message_id=opt_str(data, "message_id"),
            error=opt_obj(data, "error"),
            attempts=integer(data, "attempts"),
            created_at=opt_time(data, "created_at"),
            updated_at=opt_time(data, "updated_at"),
            sent_at=opt_time(data, "sent_at"),
            edited_text=opt_str(data, "edited_text"),
            edited_at=opt_time(data, "edited_at"),
            revoked=boolean(data, "revoked"),
            revoked_for=opt_str(data, "revoked_for"),
            revoked_at=opt_time(data, "revoked_at"),
            forwards=[Forward.from_json(item) for item in obj_list(data, "forwards")],
            raw=dict(data),
        )


@dataclass(frozen=True)
class Forward:
    """A forward of one of the API's sends: to whom, as which WhatsApp message."""

    to: str
    message_id: str
    at: datetime | None

    @classmethod
    def from_json(cls, data: JSON) -> Forward:
        return cls(
            to=string(data, "to"), message_id=string(data, "message_id"), at=opt_time(data, "at")
        )


@dataclass(frozen=True)
class ActionResult:
    """What WhatsApp answered to a change after the send (forward, reaction, pin, vote): the
    id and time of the message that carries it."""

    message_id: str
    timestamp: datetime | None

    @classmethod
    def from_json(cls, data: JSON) -> ActionResult:
        return cls(message_id=string(data, "message_id"), timestamp=opt_time(data, "timestamp"))


@dataclass(frozen=True)
class MessagePage:
    messages: list[MessageRecord]
    next_cursor: str | None

    @classmethod
    def from_json(cls, data: JSON) -> MessagePage:
        return cls(
            messages=[MessageRecord.from_json(item) for item in obj_list(data, "messages")],
            next_cursor=opt_str(data, "next_cursor"),
        )


@dataclass(frozen=True)
class DeadLetter:
    correlation_id: str
    instance: str
    kind: str
    to: str
    error: dict[str, Any] | None
    attempts: int
    failed_at: datetime | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: JSON) -> DeadLetter:
        return cls(
            correlation_id=string(data, "correlation_id"),
            instance=string(data, "instance"),
            kind=string(data, "kind"),
            to=string(data, "to"),
            error=opt_obj(data, "error"),
            attempts=integer(data, "attempts"),
            failed_at=opt_time(data, "failed_at"),
            raw=dict(data),
        )


@dataclass(frozen=True)
class DeadLetterPage:
    dead_letters: list[DeadLetter]
    next_cursor: str | None

    @classmethod
    def from_json(cls, data: JSON) -> DeadLetterPage:
        return cls(
            dead_letters=[DeadLetter.from_json(item) for item in obj_list(data, "dead_letters")],
            next_cursor=opt_str(data, "next_cursor"),
        )


@dataclass(frozen=True)
class RetriedAll:
    retried: int
    correlation_ids: list[str]
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: JSON) -> RetriedAll:
        ids = data.get("correlation_ids")
        return cls(
            retried=integer(data, "retried"),
            correlation_ids=[str(item) for item in ids] if isinstance(ids, list) else [],
            raw=dict(data),
        )


@dataclass(frozen=True)
class ContactCheck:
    phone: str
    on_whatsapp: bool
    jid: str | None

    @classmethod
    def from_json(cls, data: JSON) -> ContactCheck:
        return cls(
            phone=string(data, "phone"),
            on_whatsapp=boolean(data, "on_whatsapp"),
            jid=opt_str(data, "jid"),
        )


@dataclass(frozen=True)
class Contact:
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

    @classmethod
    def from_json(cls, data: JSON) -> Contact:
        return cls(
            jid=string(data, "jid"),
            phone=opt_str(data, "phone"),
            lid=opt_str(data, "lid"),
            name=opt_str(data, "name"),
            push_name=opt_str(data, "push_name"),
            business=boolean(data, "business"),
            business_name=opt_str(data, "business_name"),
            about=opt_str(data, "about"),
            picture_url=opt_str(data, "picture_url"),
            on_whatsapp=boolean(data, "on_whatsapp"),
        )


@dataclass(frozen=True)
class ProfilePicture:
    id: str
    url: str

    @classmethod
    def from_json(cls, data: JSON) -> ProfilePicture:
        return cls(id=string(data, "id"), url=string(data, "url"))


@dataclass(frozen=True)
class LidMapping:
    lid: str
    jid: str
    phone: str

    @classmethod
    def from_json(cls, data: JSON) -> LidMapping:
        return cls(lid=string(data, "lid"), jid=string(data, "jid"), phone=string(data, "phone"))


@dataclass(frozen=True)
class Profile:
    """The account's own profile."""

    jid: str
    phone: str | None
    name: str | None
    about: str | None
    picture_url: str | None

    @classmethod
    def from_json(cls, data: JSON) -> Profile:
        return cls(
            jid=string(data, "jid"),
            phone=opt_str(data, "phone"),
            name=opt_str(data, "name"),
            about=opt_str(data, "about"),
            picture_url=opt_str(data, "picture_url"),
        )


@dataclass(frozen=True)
class Media:
    """Media bytes downloaded from the gateway (a received message's media)."""

    content: bytes
    content_type: str
    filename: str | None


@dataclass(frozen=True)
class DeliveryAttempt:
    attempted_at: datetime | None
    status_code: int | None
    error: str | None
    duration_ms: int

    @classmethod
    def from_json(cls, data: JSON) -> DeliveryAttempt:
        return cls(
            attempted_at=opt_time(data, "attempted_at"),
            status_code=opt_int(data, "status_code"),
            error=opt_str(data, "error"),
            duration_ms=integer(data, "duration_ms"),
        )


@dataclass(frozen=True)
class Delivery:
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

    @classmethod
    def from_json(cls, data: JSON) -> Delivery:
        return cls(
            id=string(data, "id"),
            event_id=string(data, "event_id"),
            event=string(data, "event"),
            url=string(data, "url"),
            target=string(data, "target"),
            status=string(data, "status"),
            attempts=integer(data, "attempts"),
            last_status_code=opt_int(data, "last_status_code"),
            last_error=opt_str(data, "last_error"),
            next_attempt_at=opt_time(data, "next_attempt_at"),
            created_at=opt_time(data, "created_at"),
            delivered_at=opt_time(data, "delivered_at"),
            history=[DeliveryAttempt.from_json(item) for item in obj_list(data, "history")],
            raw=dict(data),
        )


@dataclass(frozen=True)
class DeliveryPage:
    deliveries: list[Delivery]
    next_cursor: str | None

    @classmethod
    def from_json(cls, data: JSON) -> DeliveryPage:
        return cls(
            deliveries=[Delivery.from_json(item) for item in obj_list(data, "deliveries")],
            next_cursor=opt_str(data, "next_cursor"),
        )


@dataclass(frozen=True)
class Faults:
    """The simulator's fault settings for an instance, after the change."""

    send_latency_ms: int
    fail_next: int
    fail_kind: str

    @classmethod
    def from_json(cls, data: JSON) -> Faults:
        return cls(
            send_latency_ms=integer(data, "send_latency_ms"),
            fail_next=integer(data, "fail_next"),
            fail_kind=string(data, "fail_kind"),
        )


@dataclass(frozen=True)
class OutboxMessage:
    """A message the simulated network received from the gateway."""

    message_id: str
    to: str
    kind: str
    body: dict[str, Any]
    sent_at: datetime | None

    @classmethod
    def from_json(cls, data: JSON) -> OutboxMessage:
        return cls(
            message_id=string(data, "message_id"),
            to=string(data, "to"),
            kind=string(data, "kind"),
            body=obj(data.get("body")),
            sent_at=opt_time(data, "sent_at"),
        )


@dataclass(frozen=True)
class PresenceSent:
    state: str
    sent_at: datetime | None

    @classmethod
    def from_json(cls, data: JSON) -> PresenceSent:
        return cls(state=string(data, "state"), sent_at=opt_time(data, "sent_at"))


@dataclass(frozen=True)
class SimulatedPresence:
    """The presence an instance sent the simulated network: `shown` is what its contacts see
    (None before any), `sent` the last ones, oldest first."""

    shown: str | None
    sent: list[PresenceSent]

    @classmethod
    def from_json(cls, data: JSON) -> SimulatedPresence:
        return cls(
            shown=opt_str(data, "shown"),
            sent=[PresenceSent.from_json(item) for item in obj_list(data, "sent")],
        )


@dataclass(frozen=True)
class ClusterNode:
    id: str
    role: str
    address: str | None
    live: bool
    started_at: datetime | None
    last_seen_at: datetime | None
    stopped_at: datetime | None
    instances: list[str]

    @classmethod
    def from_json(cls, data: JSON) -> ClusterNode:
        return cls(
            id=string(data, "id"),
            role=string(data, "role"),
            address=opt_str(data, "address"),
            live=boolean(data, "live"),
            started_at=opt_time(data, "started_at"),
            last_seen_at=opt_time(data, "last_seen_at"),
            stopped_at=opt_time(data, "stopped_at"),
            instances=str_list(data, "instances"),
        )


@dataclass(frozen=True)
class Cluster:
    mode: str
    node: str
    nodes: list[ClusterNode]
    unheld: list[str]

    @classmethod
    def from_json(cls, data: JSON) -> Cluster:
        return cls(
            mode=string(data, "mode"),
            node=string(data, "node"),
            nodes=[ClusterNode.from_json(item) for item in obj_list(data, "nodes")],
            unheld=str_list(data, "unheld"),
        )


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
class SinkStatus:
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

    @classmethod
    def from_json(cls, data: JSON) -> SinkStatus:
        connected = data.get("connected")
        lag = data.get("lag_s")
        return cls(
            name=string(data, "name"),
            kind=string(data, "kind"),
            target=opt_str(data, "target"),
            connected=connected if isinstance(connected, bool) else None,
            pending=opt_int(data, "pending"),
            retrying=opt_int(data, "retrying"),
            lag_s=float(lag) if isinstance(lag, int | float) else None,
            oldest_pending_at=opt_time(data, "oldest_pending_at"),
            last_error=opt_str(data, "last_error"),
            raw=dict(data),
        )


@dataclass(frozen=True)
class SinkFilter:
    """The events of an instance a broker transport publishes; `events` None: no filter of
    the instance's own."""

    sink: str
    events: list[str] | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: JSON) -> SinkFilter:
        events = data.get("events")
        return cls(
            sink=string(data, "sink"),
            events=str_list(data, "events") if isinstance(events, list) else None,
            raw=dict(data),
        )


# --- chats and history ---------------------------------------------------------------------


@dataclass(frozen=True)
class Chat:
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

    @classmethod
    def from_json(cls, data: JSON) -> Chat:
        return cls(
            jid=string(data, "jid"),
            name=opt_str(data, "name"),
            kind=string(data, "kind"),
            unread=integer(data, "unread"),
            last_message=opt_obj(data, "last_message"),
            last_message_at=opt_time(data, "last_message_at"),
            archived=boolean(data, "archived"),
            pinned=boolean(data, "pinned"),
            muted_until=opt_time(data, "muted_until"),
            raw=dict(data),
        )


@dataclass(frozen=True)
class ChatPage:
    chats: list[Chat]
    next_cursor: str | None

    @classmethod
    def from_json(cls, data: JSON) -> ChatPage:
        return cls(
            chats=[Chat.from_json(item) for item in obj_list(data, "chats")],
            next_cursor=opt_str(data, "next_cursor"),
        )


@dataclass(frozen=True)
class StoredMessage:
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

    @classmethod
    def from_json(cls, data: JSON) -> StoredMessage:
        return cls(
            message_id=string(data, "message_id"),
            chat=string(data, "chat"),
            sender=opt_str(data, "sender"),
            from_me=boolean(data, "from_me"),
            kind=string(data, "kind"),
            text=opt_str(data, "text"),
            caption=opt_str(data, "caption"),
            timestamp=opt_time(data, "timestamp"),
            status=string(data, "status"),
            edited_text=opt_str(data, "edited_text"),
            revoked=boolean(data, "revoked"),
            reply_to=opt_str(data, "reply_to"),
            reactions=opt_obj(data, "reactions") or {},
            media=opt_obj(data, "media"),
            correlation_id=opt_str(data, "correlation_id"),
            cursor=string(data, "cursor"),
            raw=dict(data),
        )


@dataclass(frozen=True)
class HistoryPage:
    """A chat's messages; `before` pages back, `after` forward (to poll for new ones)."""

    messages: list[StoredMessage]
    before: str | None
    after: str | None

    @classmethod
    def from_json(cls, data: JSON) -> HistoryPage:
        return cls(
            messages=[StoredMessage.from_json(item) for item in obj_list(data, "messages")],
            before=opt_str(data, "before"),
            after=opt_str(data, "after"),
        )


@dataclass(frozen=True)
class SearchPage:
    messages: list[StoredMessage]
    next_cursor: str | None

    @classmethod
    def from_json(cls, data: JSON) -> SearchPage:
        return cls(
            messages=[StoredMessage.from_json(item) for item in obj_list(data, "messages")],
            next_cursor=opt_str(data, "next_cursor"),
        )


@dataclass(frozen=True)
class AddressBookEntry:
    """A contact of the address book (GET /contacts): its JID and the name it gave itself."""

    jid: str
    push_name: str | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: JSON) -> AddressBookEntry:
        return cls(jid=string(data, "jid"), push_name=opt_str(data, "push_name"), raw=dict(data))


@dataclass(frozen=True)
class ContactPage:
    contacts: list[AddressBookEntry]
    next_cursor: str | None

    @classmethod
    def from_json(cls, data: JSON) -> ContactPage:
        return cls(
            contacts=[AddressBookEntry.from_json(item) for item in obj_list(data, "contacts")],
            next_cursor=opt_str(data, "next_cursor"),
        )


@dataclass(frozen=True)
class GroupParticipant:
    jid: str
    phone: str | None
    role: str  # member | admin | superadmin

    @classmethod
    def from_json(cls, data: JSON) -> GroupParticipant:
        return cls(
            jid=string(data, "jid"),
            phone=opt_str(data, "phone"),
            role=string(data, "role", "member"),
        )


@dataclass(frozen=True)
class ParticipantResult:
    """What became of one participant of a request: `ok`, or why not (`error`)."""

    jid: str
    phone: str | None
    ok: bool
    error: str | None
    invited: bool

    @classmethod
    def from_json(cls, data: JSON) -> ParticipantResult:
        return cls(
            jid=string(data, "jid"),
            phone=opt_str(data, "phone"),
            ok=boolean(data, "ok"),
            error=opt_str(data, "error"),
            invited=boolean(data, "invited"),
        )


@dataclass(frozen=True)
class Group:
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

    @classmethod
    def from_json(cls, data: JSON) -> Group:
        return cls(
            jid=string(data, "jid"),
            subject=string(data, "subject"),
            description=opt_str(data, "description"),
            owner=opt_str(data, "owner"),
            created_at=opt_time(data, "created_at"),
            announce=boolean(data, "announce"),
            locked=boolean(data, "locked"),
            join_approval=boolean(data, "join_approval"),
            ephemeral_s=integer(data, "ephemeral_s"),
            participants=[
                GroupParticipant.from_json(item) for item in obj_list(data, "participants")
            ],
            failed=[ParticipantResult.from_json(item) for item in obj_list(data, "failed")],
            raw=dict(data),
        )


@dataclass(frozen=True)
class GroupPage:
    groups: list[Group]
    next_cursor: str | None

    @classmethod
    def from_json(cls, data: JSON) -> GroupPage:
        return cls(
            groups=[Group.from_json(item) for item in obj_list(data, "groups")],
            next_cursor=opt_str(data, "next_cursor"),
        )


@dataclass(frozen=True)
class JoinRequest:
    jid: str
    phone: str | None
    requested_at: datetime | None

    @classmethod
    def from_json(cls, data: JSON) -> JoinRequest:
        return cls(
            jid=string(data, "jid"),
            phone=opt_str(data, "phone"),
            requested_at=opt_time(data, "requested_at"),
        )


@dataclass(frozen=True)
class InviteLink:
    code: str
    url: str

    @classmethod
    def from_json(cls, data: JSON) -> InviteLink:
        return cls(code=string(data, "code"), url=string(data, "url"))
