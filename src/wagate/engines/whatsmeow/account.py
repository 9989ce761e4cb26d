"""The account actions through neonize: contacts, pictures, blocklist, profile, privacy,
presence, chat settings (app state patches), LIDs and call rejection.

The protobuf builders and readers are plain functions of neonize's own types, so tests check
them without a network; the handlers only chain them to the client's calls, each `bounded`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from neonize.proto.Neonize_pb2 import MutationInfo, PatchInfo, PrivacySettings
from neonize.proto.waSyncAction.WAWebProtobufSyncAction_pb2 import (
    ArchiveChatAction,
    MuteAction,
    PinAction,
    SyncActionMessageRange,
    SyncActionValue,
)
from neonize.utils.enum import BlocklistAction, Presence, PrivacySettingType

from wagate.db import utcnow
from wagate.engines.actions import REJECT_CALL, handle
from wagate.engines.actions.account import (
    GET_BLOCKLIST,
    GET_CONTACT,
    GET_PICTURE,
    GET_PRIVACY,
    GET_PROFILE,
    LID_TO_PHONE,
    PHONE_TO_LID,
    PRIVACY_VALUES,
    SEND_PRESENCE,
    SET_PROFILE_PICTURE,
    SUBSCRIBE_PRESENCE,
    UPDATE_BLOCKLIST,
    UPDATE_CHAT,
    UPDATE_PRIVACY,
    UPDATE_PROFILE,
    Blocklist,
    BlocklistRequest,
    ChatSettings,
    ContactInfo,
    ContactRef,
    LidMapping,
    LidRef,
    Picture,
    PresenceRequest,
    Privacy,
    PrivacyUpdate,
    Profile,
    ProfilePictureRequest,
    ProfileUpdate,
)
from wagate.engines.actions.spec import Handler
from wagate.engines.base import EngineFailure, IncomingCall, PermanentEngineError
from wagate.engines.whatsmeow.jids import is_empty, jid_string, parse_jid

if TYPE_CHECKING:
    from wagate.engines.whatsmeow.actions import Actions

T = TypeVar("T")

# Each privacy setting: whatsmeow's name for it, and its field in PrivacySettings.
PRIVACY_NAMES: dict[str, tuple[PrivacySettingType, str]] = {
    "last_seen": (PrivacySettingType.LAST_SEEN, "LastSeen"),
    "online": (PrivacySettingType.ONLINE, "Online"),
    "profile_picture": (PrivacySettingType.PROFILE, "Profile"),
    "about": (PrivacySettingType.STATUS, "Status"),
    "groups_add": (PrivacySettingType.GROUP_ADD, "GroupAdd"),
    "read_receipts": (PrivacySettingType.READ_RECEIPTS, "ReadReceipts"),
    "calls": (PrivacySettingType.CALL_ADD, "CallAdd"),
}
# PrivacySettings.PrivacySetting numbers as whatsmeow's wire values.
PRIVACY_WIRE = {
    PrivacySettings.ALL: "all",
    PrivacySettings.CONTACTS: "contacts",
    PrivacySettings.CONTACT_BLACKLIST: "contact_blacklist",
    PrivacySettings.MATCH_LAST_SEEN: "match_last_seen",
    PrivacySettings.KNOWN: "known",
    PrivacySettings.NONE: "none",
}
# Where WhatsApp answers "no picture" or "not yours to see" instead of a picture.
NO_PICTURE_HINTS = ("not-authorized", "item-not-found", "401", "404", "not set")
# whatsmeow's appstate.Build* for these three: index, version and patch collection.
ARCHIVE_VERSION, PIN_VERSION, MUTE_VERSION = 3, 5, 2


@dataclass(frozen=True, slots=True)
class WireValue:
    """A privacy value as whatsmeow spells it. neonize's PrivacySetting enum spells
    `contact_blacklist` with an extra s, which WhatsApp refuses; set_privacy_setting only
    reads `.value`."""

    value: str


def privacy_settings(proto: Any) -> dict[str, str]:
    """PrivacySettings as the API's names and values (an unset one is WhatsApp's default)."""
    out = {}
    for name, (_, field) in PRIVACY_NAMES.items():
        out[name] = PRIVACY_WIRE.get(int(getattr(proto, field)), "all")
    return out


def chat_patches(request: ChatSettings, now_s: float) -> list[Any]:
    """The app state patches for a chat's archive, pin and mute settings (the message timer
    is not app state: set_disappearing_timer)."""
    target = request.chat
    stamp = int(now_s * 1000)
    patches = []
    if request.archived is not None:
        value = SyncActionValue(
            timestamp=stamp,
            archiveChatAction=ArchiveChatAction(
                archived=request.archived,
                messageRange=SyncActionMessageRange(lastMessageTimestamp=int(now_s)),
            ),
        )
        patches.append(_patch(PatchInfo.REGULAR_LOW, ["archive", target], ARCHIVE_VERSION, value))
    if request.pinned is not None:
        value = SyncActionValue(timestamp=stamp, pinAction=PinAction(pinned=request.pinned))
        patches.append(_patch(PatchInfo.REGULAR_LOW, ["pin_v1", target], PIN_VERSION, value))
    if request.unmute or request.muted_until is not None:
        until = request.muted_until
        mute = MuteAction(muted=until is not None)
        if until is not None:
            mute.muteEndTimestamp = int(until.timestamp() * 1000)
        value = SyncActionValue(timestamp=stamp, muteAction=mute)
        patches.append(_patch(PatchInfo.REGULAR_HIGH, ["mute", target], MUTE_VERSION, value))
    return patches


def _patch(collection: Any, index: list[str], version: int, value: Any) -> Any:
    return PatchInfo(
        Timestamp=int(time.time()),
        Type=collection,
        Mutations=[MutationInfo(Index=index, Version=version, Value=value)],
    )


def contact_info(jid: str, found: bool, user: Any, stored: Any, lid: str | None) -> ContactInfo:
    """A contact card from get_user_info's UserInfo and the contact store's ContactInfo."""
    user_part, _, server = jid.partition("@")
    business_name = None
    if user is not None and user.HasField("VerifiedName"):
        business_name = str(user.VerifiedName.Details.verifiedName) or None
    if business_name is None and stored is not None and stored.BusinessName:
        business_name = str(stored.BusinessName)
    return ContactInfo(
        jid=jid,
        on_whatsapp=found,
        phone=user_part if server == "s.whatsapp.net" else None,
        lid=lid,
        name=(str(stored.FullName) or None) if stored is not None and stored.Found else None,
        push_name=(str(stored.PushName) or None) if stored is not None else None,
        business=business_name is not None,
        business_name=business_name,
        about=(str(user.Status) or None) if user is not None else None,
    )


def picture_of(info: Any) -> Picture | None:
    if info is None or not info.URL:
        return None
    return Picture(id=str(info.ID), url=str(info.URL))


def no_picture(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(hint in text for hint in NO_PICTURE_HINTS)


class AccountActions:
    """The handlers; `actions` gives the session and `bounded`."""

    def __init__(self, actions: Actions) -> None:
        self.actions = actions

    @property
    def session(self) -> Any:
        return self.actions.session

    def handlers(self) -> list[tuple[str, Handler]]:
        return [
            handle(GET_CONTACT, self.get_contact),
            handle(GET_PICTURE, self.get_picture),
            handle(GET_BLOCKLIST, self.get_blocklist),
            handle(UPDATE_BLOCKLIST, self.update_blocklist),
            handle(GET_PROFILE, self.get_profile),
            handle(UPDATE_PROFILE, self.update_profile),
            handle(SET_PROFILE_PICTURE, self.set_profile_picture),
            handle(GET_PRIVACY, self.get_privacy),
            handle(UPDATE_PRIVACY, self.update_privacy),
            handle(SEND_PRESENCE, self.send_presence),
            handle(SUBSCRIBE_PRESENCE, self.subscribe_presence),
            handle(UPDATE_CHAT, self.update_chat),
            handle(LID_TO_PHONE, self.lid_to_phone),
            handle(PHONE_TO_LID, self.phone_to_lid),
            handle(REJECT_CALL, self.reject_call),
        ]

    # --- contacts ----------------------------------------------------------------------------

    async def _picture(self, client: Any, jid: str) -> Picture | None:
        try:
            info = await self.actions.bounded(
                client.get_profile_picture(parse_jid(jid)), "profile picture"
            )
        except EngineFailure as exc:
            if no_picture(exc):
                return None
            raise
        return picture_of(info)

    async def _lid(self, client: Any, jid: str) -> str | None:
        found = await self.actions.bounded(client.get_lid_from_pn(parse_jid(jid)), "LID lookup")
        return None if found is None or is_empty(found) else jid_string(found)

    async def get_contact(self, request: ContactRef) -> ContactInfo:
        client = self.session.require_connected()
        jid = request.contact
        found = True
        if jid.endswith("@s.whatsapp.net"):
            checks = await self.actions.bounded(
                client.is_on_whatsapp(f"+{jid.split('@')[0]}"), "number check"
            )
            found = any(bool(r.IsIn) for r in checks)
        if not found:
            return ContactInfo(jid=jid, on_whatsapp=False, phone=jid.split("@")[0])
        infos = await self.actions.bounded(client.get_user_info(parse_jid(jid)), "user info")
        user = next((item.UserInfo for item in infos), None)
        # The local stores may not know the contact yet: the card then lacks those fields.
        stored = await self._optional(client.contact.get_contact(parse_jid(jid)), "contact")
        lid: str | None = jid
        if jid.endswith("@s.whatsapp.net"):
            try:
                lid = await self._lid(client, jid)
            except EngineFailure:
                lid = None
        card = contact_info(jid, True, user, stored, lid)
        if user is not None and user.PictureID:
            picture = await self._picture(client, jid)
            if picture is not None:
                return _with_picture(card, picture.url)
        return card

    async def _optional(self, call: Awaitable[T], what: str) -> T | None:
        try:
            return await self.actions.bounded(call, what)
        except EngineFailure:
            return None

    async def get_picture(self, request: ContactRef) -> Picture | None:
        client = self.session.require_connected()
        return await self._picture(client, request.contact)

    async def phone_to_lid(self, request: ContactRef) -> LidMapping:
        client = self.session.require_connected()
        lid = await self._lid(client, request.contact)
        if lid is None:
            raise PermanentEngineError("no LID is known for this number", code="lid_not_found")
        return LidMapping(lid=lid, jid=request.contact, phone=request.contact.split("@")[0])

    async def lid_to_phone(self, request: LidRef) -> LidMapping:
        client = self.session.require_connected()
        found = await self.actions.bounded(
            client.get_pn_from_lid(parse_jid(request.lid)), "LID lookup"
        )
        if found is None or is_empty(found):
            raise PermanentEngineError("no number is known for this LID", code="lid_not_found")
        jid = jid_string(found)
        return LidMapping(lid=request.lid, jid=jid, phone=jid.split("@")[0])

    # --- blocklist ---------------------------------------------------------------------------

    async def get_blocklist(self, _: None) -> Blocklist:
        client = self.session.require_connected()
        found = await self.actions.bounded(client.get_blocklist(), "blocklist")
        return Blocklist([jid_string(jid) for jid in found.JIDs])

    async def update_blocklist(self, request: BlocklistRequest) -> Blocklist:
        client = self.session.require_connected()
        action = BlocklistAction.BLOCK if request.action == "block" else BlocklistAction.UNBLOCK
        found = await self.actions.bounded(
            client.update_blocklist(parse_jid(request.contact), action), "blocklist update"
        )
        return Blocklist([jid_string(jid) for jid in found.JIDs])

    # --- own profile and privacy -------------------------------------------------------------

    async def get_profile(self, _: None) -> Profile:
        client = self.session.require_connected()
        me = await self.actions.bounded(client.get_me(), "own device")
        jid = f"{me.JID.User}@{me.JID.Server}"
        infos = await self.actions.bounded(client.get_user_info(parse_jid(jid)), "user info")
        user = next((item.UserInfo for item in infos), None)
        picture = await self._picture(client, jid)
        return Profile(
            jid=jid,
            phone=str(me.JID.User),
            name=str(me.PushName) or None,
            about=(str(user.Status) or None) if user is not None else None,
            picture_url=picture.url if picture else None,
        )

    async def update_profile(self, request: ProfileUpdate) -> Profile:
        client = self.session.require_connected()
        if request.name is not None:
            await self.actions.bounded(client.set_profile_name(request.name), "profile name")
        if request.about is not None:
            await self.actions.bounded(client.set_status_message(request.about), "about")
        return await self.get_profile(None)

    async def set_profile_picture(self, request: ProfilePictureRequest) -> Profile:
        client = self.session.require_connected()
        if request.data is None:
            raise PermanentEngineError(
                "removing the profile picture is not offered by this engine", code="not_supported"
            )
        await self.actions.bounded(client.set_profile_photo(request.data), "profile picture")
        return await self.get_profile(None)

    async def get_privacy(self, _: None) -> Privacy:
        client = self.session.require_connected()
        found = await self.actions.bounded(client.get_privacy_settings(), "privacy settings")
        return Privacy(privacy_settings(found))

    async def update_privacy(self, request: PrivacyUpdate) -> Privacy:
        client = self.session.require_connected()
        for name, value in request.settings.items():
            if value not in PRIVACY_VALUES.get(name, ()):
                raise PermanentEngineError(f"{name} cannot be {value!r}")
            setting = PRIVACY_NAMES[name][0]
            await self.actions.bounded(
                client.set_privacy_setting(setting, WireValue(value)), f"privacy {name}"
            )
        return await self.get_privacy(None)

    # --- presence, chats, calls --------------------------------------------------------------

    async def send_presence(self, request: PresenceRequest) -> None:
        client = self.session.require_connected()
        presence = Presence.AVAILABLE if request.state == "available" else Presence.UNAVAILABLE
        await self.actions.bounded(client.send_presence(presence), "presence")

    async def subscribe_presence(self, request: ContactRef) -> None:
        client = self.session.require_connected()
        await self.actions.bounded(
            client.subscribe_presence(parse_jid(request.contact)), "presence subscription"
        )

    async def update_chat(self, request: ChatSettings) -> None:
        client = self.session.require_connected()
        for patch in chat_patches(request, time.time()):
            await self.actions.bounded(client.send_app_state(patch), "chat settings")
        if request.disappearing_s is not None:
            timer = timedelta(seconds=request.disappearing_s)
            await self.actions.bounded(
                client.set_disappearing_timer(parse_jid(request.chat), timer), "message timer"
            )

    async def reject_call(self, call: IncomingCall) -> None:
        client = self.session.require_connected()
        # RejectCall wants the caller exactly as the offer gave it: the session kept it.
        ringing = self.session.ringing.pop(call.call_id, None)
        caller = ringing.caller if ringing is not None else call.caller
        if not caller:
            raise PermanentEngineError("no such call is ringing", code="call_not_found")
        await self.actions.bounded(client.reject_call(parse_jid(caller), call.call_id), "reject")
        video = ringing.video if ringing is not None else call.video
        self.session.emit(IncomingCall(call.call_id, caller, "rejected", video, utcnow()))


def _with_picture(card: ContactInfo, url: str) -> ContactInfo:
    return replace(card, picture_url=url)
