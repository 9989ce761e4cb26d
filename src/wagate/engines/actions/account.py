"""Actions on the account and the people around it: contacts, blocklist, own profile, privacy,
presence, chat settings, LIDs.

Contacts are named by JID (`…@s.whatsapp.net`, or `…@lid` where WhatsApp hides the number).
The simulator models each one fully; the whatsmeow engine maps them to neonize's calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from wagate.engines.actions.spec import Action, declare

BlockAction = Literal["block", "unblock"]
AccountPresence = Literal["available", "unavailable"]
# WhatsApp's privacy settings and the values each one takes (whatsmeow's PrivacySetting
# names). Declared once: the routes' schemas and both engines read this table.
PRIVACY_VALUES: dict[str, tuple[str, ...]] = {
    "last_seen": ("all", "contacts", "contact_blacklist", "none"),
    "online": ("all", "match_last_seen"),
    "profile_picture": ("all", "contacts", "contact_blacklist", "none"),
    "about": ("all", "contacts", "contact_blacklist", "none"),
    "groups_add": ("all", "contacts", "contact_blacklist"),
    "read_receipts": ("all", "none"),
    "calls": ("all", "known"),
}
# The message timers WhatsApp offers: off, 24 hours, 7 days, 90 days.
DISAPPEARING_TIMERS = (0, 86_400, 604_800, 7_776_000)
MAX_PINNED_CHATS = 3
PRIVACY_DEFAULTS: dict[str, str] = {
    "last_seen": "all",
    "online": "all",
    "profile_picture": "all",
    "about": "all",
    "groups_add": "all",
    "read_receipts": "all",
    "calls": "all",
}


@dataclass(frozen=True, slots=True)
class ContactRef:
    contact: str  # a JID


@dataclass(frozen=True, slots=True)
class ContactInfo:
    jid: str
    on_whatsapp: bool
    phone: str | None = None  # None when only a LID is known
    lid: str | None = None
    name: str | None = None  # the name the account saved for it
    push_name: str | None = None  # the name the contact set for itself
    business: bool = False
    business_name: str | None = None
    about: str | None = None
    picture_url: str | None = None


@dataclass(frozen=True, slots=True)
class Picture:
    id: str
    url: str


@dataclass(frozen=True, slots=True)
class BlocklistRequest:
    action: BlockAction
    contact: str


@dataclass(frozen=True, slots=True)
class Blocklist:
    contacts: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Profile:
    jid: str
    phone: str | None
    name: str | None = None
    about: str | None = None
    picture_url: str | None = None


@dataclass(frozen=True, slots=True)
class ProfileUpdate:
    """None leaves a field as it is."""

    name: str | None = None
    about: str | None = None


@dataclass(frozen=True, slots=True)
class ProfilePictureRequest:
    data: bytes | None  # JPEG bytes; None removes the picture
    mimetype: str = "image/jpeg"


@dataclass(frozen=True, slots=True)
class Privacy:
    """Each setting by its name in PRIVACY_VALUES."""

    settings: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PrivacyUpdate:
    settings: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PresenceRequest:
    state: AccountPresence


@dataclass(frozen=True, slots=True)
class ChatSettings:
    """A chat's settings as the account's devices share them. In a request None leaves a
    field as it is; `unmute` clears `muted_until`."""

    chat: str
    archived: bool | None = None
    pinned: bool | None = None
    muted_until: datetime | None = None
    unmute: bool = False
    disappearing_s: int | None = None


@dataclass(frozen=True, slots=True)
class LidRef:
    lid: str  # …@lid


@dataclass(frozen=True, slots=True)
class LidMapping:
    lid: str
    jid: str  # the phone-number JID
    phone: str


GET_CONTACT: Action[ContactRef, ContactInfo] = declare(
    "get_contact", ContactRef, ContactInfo, "Who a contact is: names, about, business, picture."
)
GET_PICTURE: Action[ContactRef, Picture | None] = declare(
    "get_picture",
    ContactRef,
    Picture | None,
    "A contact's (or group's) picture, None when it has none or hides it.",
)
GET_BLOCKLIST: Action[None, Blocklist] = declare(
    "get_blocklist", type(None), Blocklist, "The contacts the account blocked."
)
UPDATE_BLOCKLIST: Action[BlocklistRequest, Blocklist] = declare(
    "update_blocklist",
    BlocklistRequest,
    Blocklist,
    "Block or unblock a contact.",
    ("not_on_whatsapp",),
)
GET_PROFILE: Action[None, Profile] = declare(
    "get_profile", type(None), Profile, "The account's own name, about and picture."
)
UPDATE_PROFILE: Action[ProfileUpdate, Profile] = declare(
    "update_profile", ProfileUpdate, Profile, "Change the account's name or about."
)
SET_PROFILE_PICTURE: Action[ProfilePictureRequest, Profile] = declare(
    "set_profile_picture",
    ProfilePictureRequest,
    Profile,
    "Set or remove the account's picture.",
)
GET_PRIVACY: Action[None, Privacy] = declare(
    "get_privacy", type(None), Privacy, "The account's privacy settings."
)
UPDATE_PRIVACY: Action[PrivacyUpdate, Privacy] = declare(
    "update_privacy", PrivacyUpdate, Privacy, "Change privacy settings."
)
SEND_PRESENCE: Action[PresenceRequest, None] = declare(
    "send_presence", PresenceRequest, None, "Show the account online or offline."
)
SUBSCRIBE_PRESENCE: Action[ContactRef, None] = declare(
    "subscribe_presence",
    ContactRef,
    None,
    "Receive a contact's presence (online, typing) for as long as the connection lasts.",
)
UPDATE_CHAT: Action[ChatSettings, None] = declare(
    "update_chat",
    ChatSettings,
    None,
    "Archive, pin, mute a chat or set its message timer.",
    ("pin_limit",),
)
LID_TO_PHONE: Action[LidRef, LidMapping] = declare(
    "lid_to_phone", LidRef, LidMapping, "The phone number behind a LID.", ("lid_not_found",)
)
PHONE_TO_LID: Action[ContactRef, LidMapping] = declare(
    "phone_to_lid", ContactRef, LidMapping, "The LID of a phone number.", ("lid_not_found",)
)
