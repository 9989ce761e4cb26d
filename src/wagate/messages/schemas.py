"""Request and response bodies of the send, record, contact, chat and dead-letter routes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from wagate import message_status
from wagate.errors import ErrorDetail
from wagate.images import to_webp_sticker

# KINDS and MEDIA_KINDS are re-exported: the routes, the batch and the tests read them here.
from wagate.message_kinds import KINDS as KINDS
from wagate.message_kinds import MEDIA_KINDS as MEDIA_KINDS
from wagate.message_kinds import TRAITS, Kind
from wagate.messages.contacts import contact_cards

# The status as a query parameter: a Literal of the enum's values, so the document keeps
# describing it inline with its plain strings (the enum itself would add a component named
# MessageStatus beside the event of that name) and a bad value keeps its "Input should be
# 'queued', ..." answer. Checked as a str: a Literal cannot be spelt from an enum statically.
if TYPE_CHECKING:
    MessageStatus = str
else:
    MessageStatus = Literal[tuple(status.value for status in message_status.MessageStatus)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


# Examples for the OpenAPI document (shown in /docs, and the first bodies the fuzzer sends):
# each is a send the simulator accepts. The media are tiny but real: a 1x1 PNG, the head of
# an MP4, an Ogg/Vorbis page and a PDF header, which the gateway's type sniffing recognises.
TO = "+4915112345678"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGNQvZwGAAJ/AV9X3CpyAAAAAElFTkSuQmCC"
MP4 = "AAAAGGZ0eXBtcDQyAAAAAG1wNDJpc29tAAAAAAAAAAA="
OGG = "T2dnUwACAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAF2b3JiaXMAAAAAAAAAAAAAAAAAAAAA"
PDF = "JVBERi0xLjQKJeLjz9MK"


def _example(**body: Any) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [{"to": TO, **body}]})


class MediaIn(Strict):
    url: str | None = Field(None, min_length=1, max_length=4096)
    base64: str | None = Field(None, min_length=1)
    mimetype: str | None = Field(None, min_length=3, max_length=128)

    @model_validator(mode="after")
    def _one_source(self) -> MediaIn:
        if (self.url is None) == (self.base64 is None):
            raise ValueError("give exactly one of url or base64")
        return self


class SendBase(Strict):
    to: str = Field(min_length=1, max_length=128, examples=[TO])
    reply_to: str | None = Field(None, min_length=1, max_length=128)
    mentions: list[str] | None = Field(None, max_length=256)
    mention_everyone: bool = Field(
        False, description="to a group: mention every participant (WhatsApp's @everyone)"
    )


class TextIn(SendBase):
    model_config = _example(text="Hello from wagate")
    text: str = Field(min_length=1, max_length=65536)
    link_preview: bool = False


class MediaBase(SendBase):
    # None only when the bytes came as a multipart part `file`.
    media: MediaIn | None = None


VIEW_ONCE = Field(
    False,
    description="shown once, then gone from the recipient's chat (WhatsApp's view once)",
)


class ImageIn(MediaBase):
    model_config = _example(media={"base64": PNG, "mimetype": "image/png"}, caption="a pixel")
    caption: str | None = Field(None, max_length=4096)
    view_once: bool = VIEW_ONCE


class VideoIn(MediaBase):
    model_config = _example(media={"base64": MP4, "mimetype": "video/mp4"})
    caption: str | None = Field(None, max_length=4096)
    gif: bool = False
    view_once: bool = VIEW_ONCE


class AudioIn(MediaBase):
    model_config = _example(media={"base64": OGG}, ptt=True)
    ptt: bool = False
    view_once: bool = VIEW_ONCE


class DocumentIn(MediaBase):
    model_config = _example(media={"base64": PDF}, filename="report.pdf")
    filename: str = Field(min_length=1, max_length=255, examples=["report.pdf"])
    caption: str | None = Field(None, max_length=4096)


class StickerIn(MediaBase):
    model_config = _example(media={"base64": PNG})


class LocationIn(SendBase):
    model_config = _example(latitude=-23.5505, longitude=-46.6333, name="Praça da Sé")
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    name: str | None = Field(None, max_length=1024)
    address: str | None = Field(None, max_length=1024)


class ContactCard(Strict):
    name: str = Field(min_length=1, max_length=256)
    phone: str = Field(min_length=1, max_length=32)
    organization: str | None = Field(None, max_length=256)
    email: str | None = Field(None, max_length=256, pattern=r"^[^@\s]+@[^@\s]+$")


class ContactIn(SendBase):
    model_config = _example(contacts=[{"name": "Ana Souza", "phone": "+5511987654321"}])
    contacts: list[ContactCard] = Field(min_length=1, max_length=20)


class ReactionIn(SendBase):
    model_config = _example(message_id="3EB0C767D71D8E0F6A1B", emoji="\N{THUMBS UP SIGN}")
    message_id: str = Field(min_length=1, max_length=128)
    emoji: str = Field(max_length=32)


class PollIn(SendBase):
    model_config = _example(question="Lunch?", options=["pizza", "sushi"])
    question: str = Field(min_length=1, max_length=4096)
    options: list[str] = Field(min_length=2, max_length=12)
    selectable_count: int = Field(1, ge=1, le=12)

    @field_validator("options")
    @classmethod
    def _distinct(cls, options: list[str]) -> list[str]:
        if any(not option.strip() for option in options):
            raise ValueError("an option is empty")
        if len(set(options)) != len(options):
            raise ValueError("the options must be distinct")
        return options

    @field_validator("selectable_count")
    @classmethod
    def _at_most_options(cls, count: int, info: ValidationInfo) -> int:
        options = info.data.get("options")
        if options is not None and count > len(options):
            raise ValueError("more than the number of options")
        return count


# --- the kinds' registry --------------------------------------------------------------------

# (the data read so far, the sniffed type, the most pixels allowed, the field named in a 422)
# -> (the bytes to send, their type)
Convert = Callable[[bytes, str, int, str], tuple[bytes, str]]
# (the checked model, the body to store) -> None: adds or rewrites what is kept in the body.
Keep = Callable[[Any, dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class KindSpec:
    """What the messages feature does with one kind; what every layer needs of it (media
    types, view once) is `wagate.message_kinds.TRAITS`."""

    model: type[SendBase]
    # Validation beyond the model, and what of it is kept in the stored body.
    keep: Keep | None = None
    # Media: the header of an image is read and one with too many pixels refused.
    check_pixels: bool = False
    # Media: a conversion before sending (stickers always leave as webp).
    convert: Convert | None = None
    # Media: a declared type of another family than the bytes is refused (not for audio: an
    # m4a voice note is sniffed as video/mp4).
    declared_family_checked: bool = True


def _keep_contacts(model: ContactIn, body: dict[str, Any]) -> None:
    body["contacts"] = contact_cards(model.contacts)


SPECS: dict[Kind, KindSpec] = {
    Kind.TEXT: KindSpec(TextIn),
    Kind.IMAGE: KindSpec(ImageIn, check_pixels=True),
    Kind.VIDEO: KindSpec(VideoIn),
    Kind.AUDIO: KindSpec(AudioIn, declared_family_checked=False),
    Kind.DOCUMENT: KindSpec(DocumentIn),
    Kind.STICKER: KindSpec(StickerIn, check_pixels=True, convert=to_webp_sticker),
    Kind.LOCATION: KindSpec(LocationIn),
    Kind.CONTACT: KindSpec(ContactIn, keep=_keep_contacts),
    Kind.REACTION: KindSpec(ReactionIn),
    Kind.POLL: KindSpec(PollIn),
}


def _check_specs() -> None:
    """A kind without its spec, or a model that disagrees with the kind's traits, stops the
    import: nothing can run half-declared."""
    if list(SPECS) != list(Kind):
        raise RuntimeError(f"SPECS must list every Kind in order: {list(SPECS)}")
    for kind, spec in SPECS.items():
        traits = TRAITS[kind]
        if issubclass(spec.model, MediaBase) != (traits.media is not None):
            raise RuntimeError(f"{kind}: a media kind's model is a MediaBase, and only then")
        if ("view_once" in spec.model.model_fields) != traits.view_once:
            raise RuntimeError(f"{kind}: the model's view_once field disagrees with its traits")


_check_specs()
BODY_MODELS: dict[str, type[SendBase]] = {kind.value: spec.model for kind, spec in SPECS.items()}


# --- answers -------------------------------------------------------------------------------


class SentOut(BaseModel):
    correlation_id: str
    status: str
    message_id: str | None
    timestamp: datetime | None


class QueuedOut(BaseModel):
    correlation_id: str
    status: str


def batch_item_name(kind: str) -> str:
    """The OpenAPI component of one batch item of this kind (wagate.messages.openapi)."""
    return f"Batch{BODY_MODELS[kind].__name__}"


class BatchIn(Strict):
    # Items stay plain objects here: each is checked alone (a bad item fails alone), against
    # its kind's model. The document lists those models as the items' schemas.
    messages: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=1000,
        json_schema_extra={
            "items": {
                "oneOf": [
                    {"$ref": f"#/components/schemas/{batch_item_name(kind)}"} for kind in KINDS
                ],
                # Generated clients pick an item's class by its kind instead of trying each.
                "discriminator": {
                    "propertyName": "kind",
                    "mapping": {
                        kind: f"#/components/schemas/{batch_item_name(kind)}" for kind in KINDS
                    },
                },
            }
        },
    )


class BatchError(BaseModel):
    """A batch item that was refused (`details.index` names it); the others are queued."""

    error: ErrorDetail


class BatchOut(BaseModel):
    """One result per item, in the order of the items."""

    results: list[QueuedOut | BatchError]


class ForwardOut(BaseModel):
    to: str
    message_id: str
    at: datetime


class MessageOut(BaseModel):
    correlation_id: str
    kind: str
    to: str
    status: str
    message_id: str | None
    error: dict[str, Any] | None
    attempts: int
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    edited_text: str | None = Field(None, description="the text or caption it was edited to")
    edited_at: datetime | None = None
    revoked: bool = Field(False, description="deleted (for everyone, or on this device)")
    revoked_for: Literal["everyone", "me"] | None = None
    revoked_at: datetime | None = None
    forwards: list[ForwardOut] = Field(default_factory=list)
    held_until: datetime | None = Field(
        None, description="while queued: the instance's send policy holds it until then"
    )
    held_by: str | None = Field(None, description="the send-policy rule that holds it")


class MessageList(BaseModel):
    messages: list[MessageOut]
    next_cursor: str | None


class DeadLetterOut(BaseModel):
    correlation_id: str
    instance: str
    kind: str
    to: str
    error: dict[str, Any] | None
    attempts: int
    failed_at: datetime | None


class DeadLetterList(BaseModel):
    dead_letters: list[DeadLetterOut]
    next_cursor: str | None = None


class RetriedOut(BaseModel):
    retried: int
    correlation_ids: list[str]


class CheckIn(Strict):
    phones: list[str] = Field(min_length=1, max_length=500)


class CheckResult(BaseModel):
    phone: str
    on_whatsapp: bool
    jid: str | None


class CheckOut(BaseModel):
    results: list[CheckResult]


class ReadIn(Strict):
    message_ids: list[str] = Field(min_length=1, max_length=1000)
    sender: str | None = Field(None, max_length=128, description="author, in group chats")


class PresenceIn(Strict):
    state: Literal["composing", "recording", "paused"]


class EditIn(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"text": "fixed"}})
    text: str = Field(min_length=1, max_length=65536, description="the new text or caption")


class ForwardIn(Strict):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"to": TO}})
    to: str = Field(min_length=1, max_length=128, description="phone number or JID")


class MessageAuthor(Strict):
    sender: str | None = Field(
        None, max_length=128, description="the message's author, in group chats"
    )


class ReactIn(MessageAuthor):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"emoji": "👍"}})
    emoji: str = Field(max_length=16, description="one emoji; empty takes the reaction back")


class PinIn(MessageAuthor):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"pin": True, "duration_s": 604800}}
    )
    pin: bool = Field(True, description="false unpins")
    duration_s: Literal[86400, 604800, 2592000] = Field(
        604800, description="how long it stays pinned: 24 hours, 7 days or 30 days"
    )


class VoteIn(MessageAuthor):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {"options": ["pizza"]}})
    options: list[str] = Field(
        max_length=12, description="the options chosen (by name); empty takes the vote back"
    )


class MessageReadIn(MessageAuthor):
    pass


class ActionOut(BaseModel):
    """What WhatsApp answered to the change: the id and time of the message that carries it."""

    message_id: str
    timestamp: datetime
