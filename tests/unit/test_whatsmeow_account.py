"""The whatsmeow engine's account actions and events, against neonize's own types: the
protobufs are built as neonize delivers them, and a recording stand-in for the neonize client
answers the calls a network would (it records them, with their arguments)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from neonize.aioze.events import (
    BlocklistEv,
    CallAcceptEv,
    CallOfferEv,
    CallTerminateEv,
    ChatPresenceEv,
    MessageEv,
    PictureEv,
    PresenceEv,
)
from neonize.proto.Neonize_pb2 import (
    BasicCallMeta,
    Blocklist,
    BlocklistChange,
    ContactInfo,
    Device,
    GetUserInfoSingleReturnFunction,
    IsOnWhatsAppResponse,
    MessageInfo,
    MessageSource,
    Node,
    PatchInfo,
    PrivacySettings,
    ProfilePictureInfo,
    UserInfo,
    VerifiedName,
)
from neonize.proto.waVnameCert.WAWebProtobufsVnameCert_pb2 import VerifiedNameCertificate
from neonize.utils.enum import BlocklistAction, Presence, PrivacySettingType
from neonize.utils.jid import build_jid

from tests.unit.test_whatsmeow_mapping import delivered
from wagate.engines.actions import REJECT_CALL
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
    BlocklistRequest,
    ChatSettings,
    ContactRef,
    LidRef,
    PresenceRequest,
    PrivacyUpdate,
    ProfilePictureRequest,
    ProfileUpdate,
)
from wagate.engines.base import (
    BlocklistUpdate,
    ContactUpdate,
    IncomingCall,
    PermanentEngineError,
    PresenceUpdate,
)
from wagate.engines.whatsmeow import account, mapping
from wagate.engines.whatsmeow.actions import Actions
from wagate.engines.whatsmeow.gate import LifecycleGate

PHONE = "5511987654321"
JID = f"{PHONE}@s.whatsapp.net"
LID = "123456789012345@lid"
WHEN = 1_767_225_600  # 2026-01-01T00:00:00Z


class RecordingClient:
    """What the handlers call on neonize's client: each call recorded, answered with protos."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.blocked: list[Any] = []
        self.picture: Any = ProfilePictureInfo(URL="https://pps.whatsapp.net/p.jpg", ID="77")
        self.contact = SimpleNamespace(get_contact=self._recorded("get_contact", self._contact))

    def _recorded(self, name: str, answer: Any) -> Any:
        async def call(*args: Any) -> Any:
            self.calls.append((name, args))
            return answer(*args)

        return call

    def __getattr__(self, name: str) -> Any:
        answers = {
            "is_on_whatsapp": lambda *q: [IsOnWhatsAppResponse(Query=q[0], IsIn=True)],
            "get_user_info": self._user_info,
            "get_lid_from_pn": lambda jid: build_jid(LID.split("@")[0], "lid"),
            "get_pn_from_lid": lambda jid: build_jid(PHONE),
            "get_profile_picture": self._picture,
            "get_blocklist": lambda: Blocklist(JIDs=self.blocked),
            "update_blocklist": self._update_blocklist,
            "get_me": lambda: Device(JID=build_jid(PHONE), PushName="Acme"),
            "get_privacy_settings": lambda: PrivacySettings(
                LastSeen=PrivacySettings.CONTACTS,
                CallAdd=PrivacySettings.KNOWN,
                GroupAdd=PrivacySettings.CONTACT_BLACKLIST,
            ),
        }
        return self._recorded(name, answers.get(name, lambda *args: None))

    def _user_info(self, *jids: Any) -> list[Any]:
        details = VerifiedNameCertificate.Details(verifiedName="Maria's bakery")
        info = UserInfo(Status="busy", PictureID="77", VerifiedName=VerifiedName(Details=details))
        return [GetUserInfoSingleReturnFunction(JID=jids[0], UserInfo=info)]

    def _contact(self, jid: Any) -> Any:
        return ContactInfo(Found=True, FullName="Maria Silva", PushName="Maria")

    def _picture(self, jid: Any, *extra: Any) -> Any:
        if self.picture is None:
            raise RuntimeError("failed to get profile picture: not-authorized")
        return self.picture

    def _update_blocklist(self, jid: Any, action: Any) -> Any:
        if action is BlocklistAction.BLOCK:
            self.blocked.append(jid)
        else:
            self.blocked = [j for j in self.blocked if j.User != jid.User]
        return Blocklist(JIDs=self.blocked)

    def named(self, name: str) -> list[tuple[Any, ...]]:
        return [args for called, args in self.calls if called == name]


@pytest.fixture
def client() -> RecordingClient:
    return RecordingClient()


@pytest.fixture
def emitted() -> list[Any]:
    return []


@pytest.fixture
def actions(client: RecordingClient, emitted: list[Any]) -> Actions:
    session = SimpleNamespace(
        host=SimpleNamespace(gate=LifecycleGate()),
        require_connected=lambda: client,
        ringing={},
        emit=emitted.append,
    )
    return Actions(session, 5.0)  # type: ignore[arg-type]


async def test_contact_card(actions: Actions, client: RecordingClient) -> None:
    card = await actions.table.run(GET_CONTACT, ContactRef(JID))
    assert card.jid == JID and card.on_whatsapp and card.phone == PHONE and card.lid == LID
    assert card.name == "Maria Silva" and card.push_name == "Maria" and card.about == "busy"
    assert card.business and card.business_name == "Maria's bakery"
    assert card.picture_url == "https://pps.whatsapp.net/p.jpg"
    [(query,)] = client.named("is_on_whatsapp")
    assert query == f"+{PHONE}"
    client.picture = None  # hidden from this account: a card without a picture, no failure
    assert (await actions.table.run(GET_CONTACT, ContactRef(JID))).picture_url is None
    assert await actions.table.run(GET_PICTURE, ContactRef(JID)) is None
    client.picture = ProfilePictureInfo()  # none set
    assert await actions.table.run(GET_PICTURE, ContactRef(JID)) is None


async def test_lids_both_ways(actions: Actions) -> None:
    found = await actions.table.run(PHONE_TO_LID, ContactRef(JID))
    assert (found.lid, found.jid, found.phone) == (LID, JID, PHONE)
    back = await actions.table.run(LID_TO_PHONE, LidRef(LID))
    assert back == found


async def test_unknown_lid(actions: Actions, client: RecordingClient) -> None:
    client.__dict__["get_pn_from_lid"] = client._recorded("get_pn_from_lid", lambda j: None)
    with pytest.raises(PermanentEngineError) as failure:
        await actions.table.run(LID_TO_PHONE, LidRef(LID))
    assert failure.value.code == "lid_not_found"


async def test_blocklist(actions: Actions, client: RecordingClient) -> None:
    blocked = await actions.table.run(UPDATE_BLOCKLIST, BlocklistRequest("block", JID))
    assert blocked.contacts == [JID]
    [(jid, action)] = client.named("update_blocklist")
    assert jid.User == PHONE and action is BlocklistAction.BLOCK
    assert (await actions.table.run(GET_BLOCKLIST, None)).contacts == [JID]
    unblocked = await actions.table.run(UPDATE_BLOCKLIST, BlocklistRequest("unblock", JID))
    assert unblocked.contacts == []


async def test_profile(actions: Actions, client: RecordingClient) -> None:
    profile = await actions.table.run(UPDATE_PROFILE, ProfileUpdate(name="Acme", about="9-17"))
    assert client.named("set_profile_name") == [("Acme",)]
    assert client.named("set_status_message") == [("9-17",)]
    assert profile.jid == JID and profile.name == "Acme" and profile.about == "busy"
    await actions.table.run(SET_PROFILE_PICTURE, ProfilePictureRequest(b"\xff\xd8jpeg"))
    assert client.named("set_profile_photo") == [(b"\xff\xd8jpeg",)]
    assert (await actions.table.run(GET_PROFILE, None)).picture_url
    with pytest.raises(PermanentEngineError) as failure:
        await actions.table.run(SET_PROFILE_PICTURE, ProfilePictureRequest(None))
    assert failure.value.code == "not_supported"


async def test_privacy(actions: Actions, client: RecordingClient) -> None:
    privacy = await actions.table.run(GET_PRIVACY, None)
    assert privacy.settings == {
        "last_seen": "contacts",
        "online": "all",
        "profile_picture": "all",
        "about": "all",
        "groups_add": "contact_blacklist",
        "read_receipts": "all",
        "calls": "known",
    }
    change = {"groups_add": "contact_blacklist", "read_receipts": "none"}
    await actions.table.run(UPDATE_PRIVACY, PrivacyUpdate(change))
    sent = [(name, value.value) for name, value in client.named("set_privacy_setting")]
    # whatsmeow's wire values, not neonize's misspelt enum
    assert sent == [
        (PrivacySettingType.GROUP_ADD, "contact_blacklist"),
        (PrivacySettingType.READ_RECEIPTS, "none"),
    ]


def test_every_privacy_setting_has_its_whatsmeow_name() -> None:
    assert set(account.PRIVACY_NAMES) == set(PRIVACY_VALUES)
    fields = {field.name for field in PrivacySettings.DESCRIPTOR.fields}
    assert {field for _, field in account.PRIVACY_NAMES.values()} <= fields
    for values in PRIVACY_VALUES.values():
        assert set(values) <= set(account.PRIVACY_WIRE.values())


async def test_presence(actions: Actions, client: RecordingClient) -> None:
    await actions.table.run(SEND_PRESENCE, PresenceRequest("unavailable"))
    await actions.table.run(SUBSCRIBE_PRESENCE, ContactRef(JID))
    assert client.named("send_presence") == [(Presence.UNAVAILABLE,)]
    [(jid,)] = client.named("subscribe_presence")
    assert jid.User == PHONE


async def test_chat_settings_are_app_state_patches(
    actions: Actions, client: RecordingClient
) -> None:
    until = datetime(2030, 1, 1, tzinfo=UTC)
    request = ChatSettings(JID, archived=True, pinned=True, muted_until=until, disappearing_s=86400)
    await actions.table.run(UPDATE_CHAT, request)
    patches = [args[0] for args in client.named("send_app_state")]
    assert [p.Type for p in patches] == [
        PatchInfo.REGULAR_LOW,
        PatchInfo.REGULAR_LOW,
        PatchInfo.REGULAR_HIGH,
    ]
    archive, pin, mute = (p.Mutations[0] for p in patches)
    assert list(archive.Index) == ["archive", JID] and archive.Value.archiveChatAction.archived
    assert list(pin.Index) == ["pin_v1", JID] and pin.Value.pinAction.pinned
    assert list(mute.Index) == ["mute", JID] and mute.Value.muteAction.muted
    assert mute.Value.muteAction.muteEndTimestamp == int(until.timestamp() * 1000)
    [(chat, timer)] = client.named("set_disappearing_timer")
    assert chat.User == PHONE and timer == timedelta(days=1)
    for patch in patches:  # they cross to Go serialised: every required field is set
        PatchInfo.FromString(patch.SerializeToString())


def test_unmute_patch() -> None:
    [patch] = account.chat_patches(ChatSettings(JID, unmute=True), WHEN)
    action = patch.Mutations[0].Value.muteAction
    assert not action.muted and not action.muteEndTimestamp


async def test_reject_uses_the_caller_as_offered(
    actions: Actions, client: RecordingClient, emitted: list[Any]
) -> None:
    offered = IncomingCall("CALL1", f"{PHONE}:3@s.whatsapp.net", "offered", True)
    actions.session.ringing["CALL1"] = offered
    await actions.table.run(REJECT_CALL, IncomingCall("CALL1", ""))
    [(caller, call_id)] = client.named("reject_call")
    assert (caller.User, caller.Device, call_id) == (PHONE, 3, "CALL1")
    [event] = emitted
    assert (event.call_id, event.status, event.video) == ("CALL1", "rejected", True)
    with pytest.raises(PermanentEngineError) as failure:
        await actions.table.run(REJECT_CALL, IncomingCall("CALL1", ""))
    assert failure.value.code == "call_not_found"


# --- events ---------------------------------------------------------------------------------


def test_presence_events() -> None:
    online = mapping.presence(delivered(PresenceEv(From=build_jid(PHONE))))
    assert isinstance(online, PresenceUpdate)
    assert (online.chat, online.contact, online.state, online.last_seen) == (
        JID,
        JID,
        "available",
        None,
    )
    away = mapping.presence(
        delivered(PresenceEv(From=build_jid(PHONE), Unavailable=True, LastSeen=WHEN))
    )
    assert away.state == "unavailable"
    assert away.last_seen == datetime.fromtimestamp(WHEN, UTC)


@pytest.mark.parametrize(
    ("state", "media", "expected"),
    [
        (ChatPresenceEv.COMPOSING, ChatPresenceEv.TEXT, "typing"),
        (ChatPresenceEv.COMPOSING, ChatPresenceEv.AUDIO, "recording"),
        (ChatPresenceEv.PAUSED, ChatPresenceEv.TEXT, "paused"),
    ],
)
def test_chat_presence(state: int, media: int, expected: str) -> None:
    group = build_jid("120363012345678901", "g.us")
    source = MessageSource(Chat=group, Sender=build_jid(PHONE), IsGroup=True)
    event = delivered(ChatPresenceEv(MessageSource=source, State=state, Media=media))
    update = mapping.chat_presence(event)
    assert update is not None
    assert (update.chat, update.contact, update.state) == (f"{group.User}@g.us", JID, expected)


def test_picture_events() -> None:
    event = delivered(PictureEv(JID=build_jid(PHONE), Author=build_jid(PHONE), Timestamp=WHEN))
    update = mapping.picture_change(event)
    assert isinstance(update, ContactUpdate)
    assert (update.contact, update.changes) == (JID, {"picture": "set"})
    removed = delivered(PictureEv(JID=build_jid(PHONE), Remove=True, Timestamp=WHEN))
    assert mapping.picture_change(removed).changes == {"picture": "removed"}  # type: ignore[union-attr]
    group = delivered(PictureEv(JID=build_jid("1203630", "g.us"), Timestamp=WHEN))
    assert mapping.picture_change(group) is None  # the group's events say it


def message_from(name: str, from_me: bool = False) -> Any:
    source = MessageSource(Chat=build_jid(PHONE), Sender=build_jid(PHONE), IsFromMe=from_me)
    info = MessageInfo(MessageSource=source, ID="M1", Pushname=name, Timestamp=WHEN)
    return delivered(MessageEv(Info=info))


def test_a_changed_push_name_is_a_contact_update() -> None:
    known: dict[str, str] = {}
    assert mapping.push_name_change(message_from("Maria"), known) is None  # first seen
    assert mapping.push_name_change(message_from("Maria"), known) is None
    update = mapping.push_name_change(message_from("Maria S."), known)
    assert update == ContactUpdate(
        JID, {"push_name": "Maria S."}, datetime.fromtimestamp(WHEN, UTC)
    )
    assert mapping.push_name_change(message_from("Me", from_me=True), known) is None


def test_blocklist_events() -> None:
    event = delivered(
        BlocklistEv(
            Action=BlocklistEv.MODIFY,
            Changes=[
                BlocklistChange(JID=build_jid(PHONE), BlockAction=BlocklistChange.BLOCK),
                BlocklistChange(
                    JID=build_jid("4915112345678"), BlockAction=BlocklistChange.UNBLOCK
                ),
            ],
        )
    )
    changes = mapping.blocklist_changes(event)
    assert all(isinstance(c, BlocklistUpdate) for c in changes)
    assert [(c.contact, c.action) for c in changes] == [
        (JID, "block"),
        ("4915112345678@s.whatsapp.net", "unblock"),
    ]


def test_call_lifecycle() -> None:
    caller = build_jid(PHONE)
    caller.Device = 3
    meta = BasicCallMeta(callCreator=caller, callID="CALL1", timestamp=WHEN)
    offer = delivered(
        CallOfferEv(basicCallMeta=meta, data=Node(Tag="offer", Nodes=[Node(Tag="video")]))
    )
    call = mapping.incoming_call(offer)
    assert (call.status, call.video, call.timestamp) == (
        "offered",
        True,
        datetime.fromtimestamp(WHEN, UTC),
    )
    accepted = mapping.call_update(delivered(CallAcceptEv(basicCallMeta=meta)), call, "accepted")
    assert accepted is not None and accepted.status == "accepted"
    assert accepted.caller == call.caller and accepted.video
    ended = delivered(CallTerminateEv(basicCallMeta=meta, reason="timeout"))
    assert mapping.call_update(ended, call, "missed").status == "missed"  # type: ignore[union-attr]
    assert mapping.call_update(ended, None, "missed") is None  # rejected or answered already


async def test_a_card_without_the_local_stores(actions: Actions, client: RecordingClient) -> None:
    def unknown(*_: Any) -> Any:
        raise RuntimeError("contact store: no such contact")

    client.contact = SimpleNamespace(get_contact=client._recorded("get_contact", unknown))
    client.__dict__["get_lid_from_pn"] = client._recorded("get_lid_from_pn", unknown)
    card = await actions.table.run(GET_CONTACT, ContactRef(JID))
    assert card.on_whatsapp and card.about == "busy"
    assert card.lid is None and card.name is None and card.push_name is None
