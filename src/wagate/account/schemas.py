"""Request and response bodies of the account routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from wagate.engines.actions.account import DISAPPEARING_TIMERS, PRIVACY_VALUES
from wagate.messages.schemas import MediaIn

JID = "5511987654321@s.whatsapp.net"
LID = "123456789012345@lid"
PICTURE = "https://pps.whatsapp.net/v/t61.24694-24/1234567890.jpg"


class AccountStrict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _example(**values: Any) -> ConfigDict:
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [values]})


class ContactOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "jid": JID,
                    "phone": "5511987654321",
                    "lid": LID,
                    "name": None,
                    "push_name": "Maria",
                    "business": False,
                    "business_name": None,
                    "about": "Hey there! I am using WhatsApp.",
                    "picture_url": PICTURE,
                    "on_whatsapp": True,
                }
            ]
        }
    )
    jid: str
    phone: str | None = Field(description="null when WhatsApp shows only a LID")
    lid: str | None
    name: str | None = Field(description="the name the account saved for the contact")
    push_name: str | None = Field(description="the name the contact set for itself")
    business: bool
    business_name: str | None
    about: str | None
    picture_url: str | None
    on_whatsapp: bool


class ContactPictureOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"id": "1234567890", "url": PICTURE}]}
    )
    id: str
    url: str = Field(description="WhatsApp's URL of the picture (it expires after a while)")


class BlocklistIn(AccountStrict):
    model_config = _example(action="block", contact="5511987654321")
    action: Literal["block", "unblock"]
    contact: str = Field(min_length=1, max_length=128)


class BlocklistOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"contacts": [JID]}]})
    contacts: list[str]


class ProfileOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "jid": JID,
                    "phone": "5511987654321",
                    "name": "Acme support",
                    "about": "We answer 9-17",
                    "picture_url": PICTURE,
                }
            ]
        }
    )
    jid: str
    phone: str | None
    name: str | None
    about: str | None
    picture_url: str | None


class ProfileIn(AccountStrict):
    model_config = _example(name="Acme support", about="We answer 9-17")
    # WhatsApp's own limits: 25 characters of name, 139 of about.
    name: str | None = Field(None, min_length=1, max_length=25)
    about: str | None = Field(None, max_length=139)


class PictureMediaIn(MediaIn):
    """The picture: a URL the gateway fetches, or the bytes as base64 (any image type; it is
    cut to a centred square and stored as JPEG)."""


class ProfilePictureIn(AccountStrict):
    model_config = _example(media={"url": "https://example.com/logo.png"})
    media: PictureMediaIn


def _privacy_field(name: str) -> Any:
    return Field(None, json_schema_extra={"enum": list(PRIVACY_VALUES[name])})


class PrivacyIn(AccountStrict):
    """The settings to change, each with one of WhatsApp's values for it."""

    model_config = _example(last_seen="contacts", read_receipts="none")
    last_seen: str | None = _privacy_field("last_seen")
    online: str | None = _privacy_field("online")
    profile_picture: str | None = _privacy_field("profile_picture")
    about: str | None = _privacy_field("about")
    groups_add: str | None = _privacy_field("groups_add")
    read_receipts: str | None = _privacy_field("read_receipts")
    calls: str | None = _privacy_field("calls")

    @field_validator("*")
    @classmethod
    def _allowed(cls, value: str | None, info: Any) -> str | None:
        allowed = PRIVACY_VALUES[info.field_name]
        if value is not None and value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return value

    def changes(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump().items() if v is not None}


class PrivacyOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "last_seen": "contacts",
                    "online": "all",
                    "profile_picture": "all",
                    "about": "all",
                    "groups_add": "contacts",
                    "read_receipts": "all",
                    "calls": "all",
                }
            ]
        }
    )
    last_seen: str
    online: str
    profile_picture: str
    about: str
    groups_add: str
    read_receipts: str
    calls: str


class AccountPresenceIn(AccountStrict):
    model_config = _example(state="available")
    state: Literal["available", "unavailable"]


class ChatSettingsIn(AccountStrict):
    """The settings to change; a field left out stays as it is."""

    model_config = _example(archived=False, pinned=True, muted_until=None, disappearing_s=86400)
    archived: bool | None = None
    pinned: bool | None = None
    muted_until: datetime | None = Field(
        None, description="mute until then (RFC 3339, in the future); null unmutes"
    )
    disappearing_s: int | None = Field(
        None,
        description="the chat's message timer in seconds: "
        + ", ".join(str(s) for s in DISAPPEARING_TIMERS)
        + " (0: off)",
        json_schema_extra={"enum": list(DISAPPEARING_TIMERS)},
    )

    @field_validator("disappearing_s")
    @classmethod
    def _timer(cls, value: int | None) -> int | None:
        if value is not None and value not in DISAPPEARING_TIMERS:
            raise ValueError(f"must be one of {', '.join(str(s) for s in DISAPPEARING_TIMERS)}")
        return value


class LidOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"lid": LID, "jid": JID, "phone": "5511987654321"}]}
    )
    lid: str
    jid: str
    phone: str
