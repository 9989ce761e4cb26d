"""The `data` of each event type, declared once: the publish sites build it from these models,
and the OpenAPI `webhooks` section (wagate.events.openapi) is generated from the same models.

A field that "applies only sometimes" (docs/events.md: "only the fields that apply are
present") is left out of `data` when it does not apply, never sent as null: such fields are
the optional ones with a `None` default, see `Payload.data`. A field that is "string or null"
is required and nullable, and always present.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal, NotRequired, get_args

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema, WithJsonSchema
from typing_extensions import TypedDict

from wagate.engines.status import Status

# Every timestamp in an event is the RFC 3339 string of wagate.events.bus.isoformat.
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]
# Inline, not a component named after the enum class ("Status" says too little in a client).
StatusValue = Annotated[
    Status, WithJsonSchema({"type": "string", "enum": [status.value for status in Status]})
]


class Payload(BaseModel):
    """An event's `data`."""

    model_config = ConfigDict(extra="forbid", use_enum_values=True)
    event: ClassVar[str]
    _omitted: ClassVar[frozenset[str]] = frozenset()
    _flat: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "event" in cls.__dict__:
            PAYLOADS[cls.event] = cls

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        fields = cls.model_fields
        cls._omitted = frozenset(
            name
            for name, field in fields.items()
            if not field.is_required() and field.default is None
        )
        # message_status and message_ack go out thousands of times a second: a model without
        # aliases or nested models is its own dump, read straight from its attributes (a tenth
        # of model_dump's cost).
        cls._flat = not any(
            field.alias or _has_model(field.annotation) for field in fields.values()
        )

    def data(self) -> dict[str, Any]:
        """The event's `data`: every field, less the optional ones that do not apply."""
        values = self.__dict__ if self._flat else self.model_dump()
        omitted = self._omitted
        return {k: v for k, v in values.items() if v is not None or k not in omitted}


def _has_model(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    return any(_has_model(arg) for arg in get_args(annotation))


# Fields typed `X | Absent = None` are left out of `data` rather than null, so the document
# shows them as plain `X`, not required.
Absent = SkipJsonSchema[None]

PAYLOADS: dict[str, type[Payload]] = {}


class ConnectionUpdateData(Payload):
    """The instance's status changed, or it linked to a number."""

    event = "connection_update"
    status: StatusValue
    previous: StatusValue
    reason: str | None = Field(
        description="why, when it was not asked for: `qr_timeout`, `stream_replaced`, "
        "a connection error"
    )
    jid: str | None = Field(description="the linked device's JID, once known")


class QrUpdatedData(Payload):
    """A new QR code to scan."""

    event = "qr_updated"
    code: str = Field(description="the QR code's content")
    expires_at: Timestamp


class InboundMediaInfo(BaseModel):
    mimetype: str
    filename: str | None
    size: int
    url: str = Field(description="the gateway's GET /v1/instances/{instance}/media/{message_id}")


# Inbound sub-objects pass through as the engine gives them: typed dicts keep exactly the keys
# given, where a model would add its absent fields as null.
class ReceivedLocation(TypedDict):
    latitude: float
    longitude: float
    name: NotRequired[str]
    address: NotRequired[str]


class ReceivedReaction(TypedDict):
    message_id: str
    emoji: str


class ReceivedPoll(TypedDict):
    question: str
    options: list[str]
    selectable_count: int


# `from` is a keyword: the functional form spells the key as it is sent.
QuotedMessage = TypedDict(
    "QuotedMessage",
    {
        "message_id": str,
        "from": NotRequired[str],
        "kind": NotRequired[str],
        "text": NotRequired[str],
    },
)


class Party(BaseModel):
    """A WhatsApp user: the JID, and the phone number where WhatsApp shows it."""

    jid: str
    phone: str | None = Field(description="digits, country code first; null for a hidden number")


class MessageReceivedData(Payload):
    """A message arrived in one of the account's chats, or was sent from the phone or another
    linked device (`from_me`). Only the fields that apply are present."""

    event = "message_received"
    # `from` is a keyword: the field is read and written by its alias.
    model_config = ConfigDict(serialize_by_alias=True, validate_by_name=True)
    message_id: str
    chat: str
    from_: str = Field(alias="from")
    from_me: bool
    timestamp: Timestamp
    kind: str
    text: str | Absent = None
    caption: str | Absent = None
    media: InboundMediaInfo | Absent = None
    location: ReceivedLocation | Absent = None
    contacts: list[dict[str, Any]] | Absent = None
    reaction: ReceivedReaction | Absent = None
    poll: ReceivedPoll | Absent = None
    reply_to: str | Absent = None
    view_once: bool | Absent = Field(
        None, description="present (true) for a photo, video or voice message to view once"
    )
    forwarded: bool | Absent = Field(None, description="present (true) for a forwarded message")
    ephemeral: bool | Absent = Field(
        None, description="present (true) in a chat with disappearing messages on"
    )
    quoted: QuotedMessage | Absent = Field(
        None, description="the message it replies to, as far as the reply carries it"
    )
    group: str | Absent = Field(None, description="in a group: the group's JID (`…@g.us`)")
    participant: Party | Absent = Field(None, description="in a group: the participant who sent it")
    mentions: list[str] | Absent = Field(None, description="the JIDs the sender mentioned")


class AckError(TypedDict):
    code: str
    message: str


class MessageAckData(Payload):
    """A send reached its final outcome: once per send."""

    event = "message_ack"
    correlation_id: str
    status: Literal["sent", "failed", "cancelled"]
    attempts: int
    message_id: str | Absent = None
    error: AckError | Absent = None


class SendPausedData(Payload):
    """The instance's sending paused: its circuit breaker opened (queued sends wait)."""

    event = "send_paused"
    reason: str = Field(
        description="`rate_limited` or `spam_suspected` (WhatsApp's answer), or `failure_rate`"
    )
    paused_until: Timestamp = Field(description="when sending resumes on its own")
    cooldown_s: int = Field(description="the pause's length: it doubles on each repeat")
    trips: int = Field(description="times the breaker opened in a row")


class MessageStatusData(Payload):
    """A receipt from the recipient for a message this account sent."""

    event = "message_status"
    message_id: str
    chat: str
    status: Literal["delivered", "read", "played"]
    timestamp: Timestamp
    correlation_id: str | Absent = None


class MessageEditedData(Payload):
    """A message's text or caption was changed by its sender: a contact, this account from the
    phone, or this account through the API (then `correlation_id` names the send)."""

    event = "message_edited"
    model_config = ConfigDict(serialize_by_alias=True, validate_by_name=True)
    message_id: str
    chat: str
    from_: str = Field(alias="from")
    from_me: bool
    text: str = Field(description="the new text or caption")
    timestamp: Timestamp
    correlation_id: str | Absent = None


class MessageRevokedData(Payload):
    """A message was deleted for everyone by its sender (or a group admin)."""

    event = "message_revoked"
    model_config = ConfigDict(serialize_by_alias=True, validate_by_name=True)
    message_id: str
    chat: str
    from_: str = Field(alias="from")
    from_me: bool
    timestamp: Timestamp
    correlation_id: str | Absent = None


class MessageReactionData(Payload):
    """Someone reacted to a message of a chat, or took the reaction back (`emoji` empty)."""

    event = "message_reaction"
    model_config = ConfigDict(serialize_by_alias=True, validate_by_name=True)
    message_id: str = Field(description="the message reacted to")
    chat: str
    from_: str = Field(alias="from")
    from_me: bool
    emoji: str
    removed: bool
    timestamp: Timestamp
    correlation_id: str | Absent = Field(
        None, description="when the message reacted to is one of this API's sends"
    )


class PollVoteData(Payload):
    """A vote in a poll, decrypted: the options the voter chose now (empty: vote taken back)."""

    event = "poll_vote"
    model_config = ConfigDict(serialize_by_alias=True, validate_by_name=True)
    poll_message_id: str
    chat: str
    from_: str = Field(alias="from")
    from_me: bool
    options: list[str]
    timestamp: Timestamp
    correlation_id: str | Absent = Field(
        None, description="when the poll is one of this API's sends"
    )


class PresenceData(Payload):
    """A contact the instance subscribed to (`POST /chats/{chat}/presence/subscribe`) came
    online or went offline, or is typing or recording in a chat."""

    event = "presence"
    chat: str = Field(description="the contact's chat, or the group it types in")
    contact: str
    state: Literal["available", "unavailable", "typing", "recording", "paused"]
    last_seen: Timestamp | Absent = Field(
        None, description="when the contact was last online, where WhatsApp tells it"
    )


class CallData(Payload):
    """A call to the account rang (`offered`), was answered on another device (`accepted`),
    rejected (by this instance, another device, or `reject_calls`) or missed."""

    event = "call"
    model_config = ConfigDict(serialize_by_alias=True, validate_by_name=True)
    call_id: str
    from_: str = Field(alias="from", description="the caller's JID")
    status: Literal["offered", "accepted", "rejected", "missed"]
    video: bool
    timestamp: Timestamp


class ContactUpdateData(Payload):
    """A contact changed its own name, about or picture. Only the fields that changed are
    present."""

    event = "contact_update"
    contact: str
    push_name: str | Absent = None
    about: str | Absent = None
    business_name: str | Absent = None
    picture: Literal["set", "removed"] | Absent = Field(
        None, description="a new picture (read it with GET /contacts/{contact}/picture)"
    )


class BlocklistUpdateData(Payload):
    """The account blocked or unblocked a contact, through the API or on another device."""

    event = "blocklist_update"
    contact: str
    action: Literal["block", "unblock"]


class GroupChanges(TypedDict, total=False):
    """Only the fields that changed, with their new values."""

    subject: str
    description: str | None
    announce: bool
    locked: bool
    join_approval: bool
    ephemeral_s: int
    picture: Literal["set", "removed"]
    invite: Literal["reset"]


class GroupUpdateData(Payload):
    """A group the account is in changed its subject, description, settings or picture, or
    its invite link was reset."""

    event = "group_update"
    group: str = Field(description="the group's JID (`…@g.us`)")
    actor: Party | None = Field(description="who changed it; null when WhatsApp does not say")
    changes: GroupChanges
    timestamp: Timestamp


GroupAction = Literal["joined", "left", "added", "removed", "promoted", "demoted", "join_requested"]


class GroupParticipantsData(Payload):
    """People joined or left a group the account is in, were added, removed, promoted or
    demoted, or asked to join (`join_requested`, told to the admins)."""

    event = "group_participants"
    group: str = Field(description="the group's JID (`…@g.us`)")
    actor: Party | None = Field(description="who did it; null when WhatsApp does not say")
    action: GroupAction
    participants: list[Party]
    timestamp: Timestamp


class HistorySyncData(Payload):
    """A part of the history WhatsApp sent after linking was imported into the history
    store: how much it held and how much of it was new."""

    event = "history_sync"
    chats: int = Field(description="conversations in this part")
    messages: int = Field(description="messages of this part newly kept")
    skipped: int = Field(
        description="messages of this part not kept: kept already, or older than the "
        "instance's history_sync setting takes"
    )
    progress: int | None = Field(description="percent of the whole sync, when WhatsApp says")
    done: bool = Field(description="the last part: the sync is over")
