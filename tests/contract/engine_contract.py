"""The contract of `wagate.engines.base` (`Engine`, `EngineClient`), run against each engine
directly: no app, no client manager.

Two base classes, one per depth:

- `EngineContract`: what an engine shows without WhatsApp's servers (start returns at once
  and reports a QR code or a clear failure, stop ends the events, every action of a client
  that is not connected raises NotConnectedError). Every engine runs it.
- `ConnectedEngineContract`: the same and what a linked client does (send, the actions,
  logout, resume without a scan, the errors' codes). An engine that can be linked in a test
  (the simulator) runs it.

A test class subclasses one of them and provides the `harness` fixture (an `EngineHarness`,
or a `LinkingHarness` for the connected contract); see tests/contract/test_engines.py.

A declared engine action (wagate.engines.actions) gets one valid request in `SAMPLES` (every
engine then shows that it refuses it while not connected; a declared action without a sample
fails `test_every_declared_action_has_a_sample`) and one test method in
`ConnectedEngineContract` (what it does when connected).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

import pytest

from tests.support.polling import eventually
from wagate.engines.actions import ACTIONS as DECLARED
from wagate.engines.actions import (
    CHAT_PRESENCE,
    CHECK_NUMBERS,
    EDIT_MESSAGE,
    FETCH_MEDIA,
    FORWARD_MESSAGE,
    MARK_READ,
    PIN_MESSAGE,
    REACT,
    REJECT_CALL,
    REVOKE_MESSAGE,
    SEND,
    SEND_PRESENCE,
    VOTE,
    ChatPresenceRequest,
    CheckNumbersRequest,
    EditRequest,
    FetchMediaRequest,
    ForwardRequest,
    PinRequest,
    PresenceRequest,
    ReactRequest,
    ReadRequest,
    RevokeRequest,
    VoteRequest,
)
from wagate.engines.actions import groups as g
from wagate.engines.actions.account import (
    GET_BLOCKLIST,
    GET_CONTACT,
    GET_PICTURE,
    GET_PRIVACY,
    GET_PROFILE,
    LID_TO_PHONE,
    PHONE_TO_LID,
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
    PrivacyUpdate,
    ProfilePictureRequest,
    ProfileUpdate,
)
from wagate.engines.actions.groups import (
    ANSWER_REQUESTS,
    CREATE_GROUP,
    GET_GROUP,
    GROUP_INVITE,
    GROUP_REQUESTS,
    INVITE_INFO,
    JOIN_BY_INVITE,
    LEAVE_GROUP,
    LIST_GROUPS,
    SET_GROUP_PICTURE,
    UPDATE_GROUP,
    UPDATE_PARTICIPANTS,
    AnswerRequestsRequest,
    CreateGroupRequest,
    GroupParticipant,
    GroupPictureRequest,
    GroupRef,
    InviteCode,
    InviteRequest,
    ParticipantsRequest,
    UpdateGroupRequest,
)
from wagate.engines.base import (
    Connected,
    ConnectFailed,
    ConnectionLost,
    Engine,
    EngineClient,
    EngineEvent,
    IncomingCall,
    InstanceRef,
    NotConnectedError,
    NumberCheck,
    OutgoingMessage,
    PermanentEngineError,
    QrCode,
    SendResult,
)

E = TypeVar("E")

PHONE = "5511987654321"
CHAT = f"{PHONE}@s.whatsapp.net"
GROUP = "120363012345678901@g.us"
QUIET_S = 1.5  # how long "no more events" is watched for
START_RETURNS_S = 2.0
PROGRESS_S = 30.0  # the first event after start: an engine host may have to start first


def text_to(jid: str, text: str = "hello", correlation_id: str = "c-1") -> OutgoingMessage:
    return OutgoingMessage("text", jid, {"text": text}, correlation_id)


# One valid request per declared engine action: a new action is one entry here.
SAMPLES: dict[str, Any] = {
    SEND.name: text_to(CHAT),
    CHECK_NUMBERS.name: CheckNumbersRequest([PHONE]),
    MARK_READ.name: ReadRequest(CHAT, ["3EB0AAAA"], None),
    CHAT_PRESENCE.name: ChatPresenceRequest(CHAT, "composing"),
    FETCH_MEDIA.name: FetchMediaRequest(CHAT, "3EB0AAAA", "image/jpeg", b"\xff\xfe no media"),
    REJECT_CALL.name: IncomingCall("call-1", CHAT),
    g.CREATE_GROUP.name: g.CreateGroupRequest("Team", [CHAT]),
    g.LIST_GROUPS.name: None,
    g.GET_GROUP.name: g.GroupRef(GROUP),
    g.UPDATE_GROUP.name: g.UpdateGroupRequest(GROUP, subject="Renamed"),
    g.SET_GROUP_PICTURE.name: g.GroupPictureRequest(GROUP, b"\xff\xd8\xff\xe0"),
    g.UPDATE_PARTICIPANTS.name: g.ParticipantsRequest(GROUP, "add", [CHAT]),
    g.GROUP_REQUESTS.name: g.GroupRef(GROUP),
    g.ANSWER_REQUESTS.name: g.AnswerRequestsRequest(GROUP, "approve", [CHAT]),
    g.GROUP_INVITE.name: g.InviteRequest(GROUP),
    g.INVITE_INFO.name: g.InviteCode("AbCdEfGhIjK"),
    g.JOIN_BY_INVITE.name: g.InviteCode("AbCdEfGhIjK"),
    g.LEAVE_GROUP.name: g.GroupRef(GROUP),
    EDIT_MESSAGE.name: EditRequest(CHAT, "3EB0AAAA", "fixed"),
    REVOKE_MESSAGE.name: RevokeRequest(CHAT, "3EB0AAAA"),
    FORWARD_MESSAGE.name: ForwardRequest(CHAT, "3EB0AAAA", CHAT),
    REACT.name: ReactRequest(CHAT, "3EB0AAAA", "👍"),
    PIN_MESSAGE.name: PinRequest(CHAT, "3EB0AAAA", True),
    VOTE.name: VoteRequest(CHAT, "3EB0AAAA", ["pizza"]),
    GET_CONTACT.name: ContactRef(CHAT),
    GET_PICTURE.name: ContactRef(CHAT),
    GET_BLOCKLIST.name: None,
    UPDATE_BLOCKLIST.name: BlocklistRequest("block", CHAT),
    GET_PROFILE.name: None,
    UPDATE_PROFILE.name: ProfileUpdate(name="wagate", about="testing"),
    SET_PROFILE_PICTURE.name: ProfilePictureRequest(b"\xff\xd8\xff\xe0 a JPEG"),
    GET_PRIVACY.name: None,
    UPDATE_PRIVACY.name: PrivacyUpdate({"calls": "known"}),
    SEND_PRESENCE.name: PresenceRequest("available"),
    SUBSCRIBE_PRESENCE.name: ContactRef(CHAT),
    UPDATE_CHAT.name: ChatSettings(CHAT, archived=True),
    LID_TO_PHONE.name: LidRef("123456789012345@lid"),
    PHONE_TO_LID.name: ContactRef(CHAT),
}
Action = Callable[[EngineClient], Awaitable[object]]


def _caller(name: str, request: Any) -> Action:
    return lambda client: client.call(DECLARED[name], request)


ACTIONS: dict[str, Action] = {name: _caller(name, request) for name, request in SAMPLES.items()}


@dataclass
class Recorded:
    """A client and every event it reported, in order."""

    instance: InstanceRef
    client: EngineClient
    events: list[EngineEvent] = field(default_factory=list)

    def of(self, kind: type[E]) -> list[E]:
        return [event for event in self.events if isinstance(event, kind)]

    async def first(self, kind: type[E] | tuple[type, ...], timeout: float = 10.0) -> Any:
        """The first event of `kind` (waited for)."""

        async def found() -> Any:
            return next((e for e in self.events if isinstance(e, kind)), None)

        return await eventually(found, timeout=timeout, what=f"{kind}", seen=lambda: self.events)

    async def quiet_after(self, count: int) -> None:
        """No event comes after the first `count` for a while."""
        await asyncio.sleep(QUIET_S)
        assert self.events[count:] == []


class EngineHarness(Protocol):
    engine: Engine

    async def client(self, instance: InstanceRef | None = None) -> Recorded:
        """A new client (not started) of `instance`, or of a new instance with no device."""


class LinkingHarness(EngineHarness, Protocol):
    absent_phone: str  # a number that is not on WhatsApp

    async def link(self, recorded: Recorded) -> None:
        """A phone links the started, pairing client (scans its QR code)."""


async def not_connected(action: Action, client: EngineClient) -> None:
    with pytest.raises(NotConnectedError):
        await asyncio.wait_for(action(client), 30)


class EngineContract:
    """What every engine promises without WhatsApp's servers. Subclasses provide `harness`."""

    @pytest.fixture
    def harness(self) -> EngineHarness:
        raise NotImplementedError("an engine's test class provides the harness")

    async def test_start_returns_at_once_and_reports_progress(self, harness: EngineHarness) -> None:
        recorded = await harness.client()
        started = time.monotonic()
        await recorded.client.start()
        assert time.monotonic() - started < START_RETURNS_S
        try:
            first = await recorded.first((QrCode, ConnectionLost, ConnectFailed), PROGRESS_S)
            if isinstance(first, QrCode):
                assert first.code and first.expires_at.tzinfo is not None
            else:
                assert first.reason  # a failure says why
        finally:
            await recorded.client.stop()

    @pytest.mark.parametrize("action", ACTIONS.values(), ids=ACTIONS.keys())
    async def test_an_action_before_start_raises_not_connected(
        self, harness: EngineHarness, action: Action
    ) -> None:
        recorded = await harness.client()
        await not_connected(action, recorded.client)

    @pytest.mark.parametrize("action", ACTIONS.values(), ids=ACTIONS.keys())
    async def test_an_action_of_an_unlinked_client_raises_not_connected(
        self, harness: EngineHarness, action: Action
    ) -> None:
        recorded = await harness.client()
        await recorded.client.start()
        try:
            await recorded.first((QrCode, ConnectionLost, ConnectFailed), PROGRESS_S)
            await not_connected(action, recorded.client)
        finally:
            await recorded.client.stop()

    @pytest.mark.parametrize("action", ACTIONS.values(), ids=ACTIONS.keys())
    async def test_an_action_after_stop_raises_not_connected(
        self, harness: EngineHarness, action: Action
    ) -> None:
        recorded = await harness.client()
        await recorded.client.start()
        await recorded.client.stop()
        await not_connected(action, recorded.client)

    async def test_stop_right_after_start_ends_the_events(self, harness: EngineHarness) -> None:
        recorded = await harness.client()
        await recorded.client.start()
        await recorded.client.stop()
        await recorded.quiet_after(len(recorded.events))

    async def test_stop_while_pairing_or_retrying_ends_the_events(
        self, harness: EngineHarness
    ) -> None:
        """No further QR code (they come every few seconds) nor failure after stop."""
        recorded = await harness.client()
        await recorded.client.start()
        await recorded.first((QrCode, ConnectionLost, ConnectFailed), PROGRESS_S)
        await recorded.client.stop()
        await recorded.quiet_after(len(recorded.events))

    async def test_stop_before_start_and_twice_is_harmless(self, harness: EngineHarness) -> None:
        recorded = await harness.client()
        await recorded.client.stop()
        await recorded.client.stop()
        assert recorded.events == []

    async def test_health_is_ok(self, harness: EngineHarness) -> None:
        assert (await harness.engine.health()).ok

    async def test_forget_of_an_instance_without_a_device_is_harmless(
        self, harness: EngineHarness
    ) -> None:
        recorded = await harness.client()
        await harness.engine.forget(recorded.instance)


class ConnectedEngineContract(EngineContract):
    """What a linked client does. Subclasses provide `harness` (a `LinkingHarness`)."""

    @pytest.fixture
    async def linked(self, harness: LinkingHarness) -> Any:
        """A started client that was paired by a QR scan and is connected."""
        recorded = await harness.client()
        await recorded.client.start()
        await recorded.first(QrCode)
        await harness.link(recorded)
        await recorded.first(Connected)
        try:
            yield recorded
        finally:
            await recorded.client.stop()

    async def test_a_scan_connects_with_the_linked_jid(self, linked: Recorded) -> None:
        [connected] = linked.of(Connected)
        assert connected.jid.endswith("@s.whatsapp.net")
        assert connected.phone and connected.phone in connected.jid
        assert linked.events.index(linked.of(QrCode)[0]) < linked.events.index(connected)

    async def test_send_returns_the_message_id(self, linked: Recorded) -> None:
        one = await linked.client.call(SEND, text_to(CHAT, "one", "c-1"))
        two = await linked.client.call(SEND, text_to(CHAT, "two", "c-2"))
        for result in (one, two):
            assert isinstance(result, SendResult) and result.message_id
            assert isinstance(result.timestamp, datetime) and result.timestamp.tzinfo is not None
        assert one.message_id != two.message_id

    async def test_send_to_a_number_not_on_whatsapp_is_permanent(
        self, harness: LinkingHarness, linked: Recorded
    ) -> None:
        with pytest.raises(PermanentEngineError) as raised:
            await linked.client.call(SEND, text_to(f"{harness.absent_phone}@s.whatsapp.net"))
        assert raised.value.code == "not_on_whatsapp"

    async def test_check_numbers_answers_each_number_in_order(
        self, harness: LinkingHarness, linked: Recorded
    ) -> None:
        found = await linked.client.call(
            CHECK_NUMBERS, CheckNumbersRequest([PHONE, harness.absent_phone])
        )
        assert found == [
            NumberCheck(PHONE, True, CHAT),
            NumberCheck(harness.absent_phone, False, None),
        ]

    async def test_mark_read(self, linked: Recorded) -> None:
        await ACTIONS["mark_read"](linked.client)

    async def test_presence(self, linked: Recorded) -> None:
        for state in ("available", "composing", "paused", "unavailable"):
            await linked.client.call(CHAT_PRESENCE, ChatPresenceRequest(CHAT, state))

    async def test_fetch_media_of_nothing_is_unavailable(self, linked: Recorded) -> None:
        """A handle that names no media (or media the network no longer keeps): permanent,
        `media_unavailable`; the history keeps the message, its media answered 410."""
        with pytest.raises(PermanentEngineError) as raised:
            await ACTIONS["fetch_media"](linked.client)
        assert raised.value.code == "media_unavailable"

    async def test_reject_call(self, linked: Recorded) -> None:
        await ACTIONS["reject_call"](linked.client)

    async def test_changes_after_the_send(self, linked: Recorded) -> None:
        sent = await linked.client.call(SEND, text_to(CHAT, "typo", "c-edit"))
        changes = [
            (EDIT_MESSAGE, EditRequest(CHAT, sent.message_id, "fixed")),
            (FORWARD_MESSAGE, ForwardRequest(CHAT, sent.message_id, CHAT)),
            (REACT, ReactRequest(CHAT, sent.message_id, "👍")),
            (REACT, ReactRequest(CHAT, sent.message_id, "")),
            (PIN_MESSAGE, PinRequest(CHAT, sent.message_id, True)),
            (PIN_MESSAGE, PinRequest(CHAT, sent.message_id, False)),
            (REVOKE_MESSAGE, RevokeRequest(CHAT, sent.message_id)),
        ]
        for action, request in changes:
            result = await linked.client.call(action, request)
            assert isinstance(result, SendResult) and result.message_id, action
            assert result.message_id != sent.message_id

    async def test_send_presence(self, linked: Recorded) -> None:
        await linked.client.call(SEND_PRESENCE, PresenceRequest("available"))
        await linked.client.call(SEND_PRESENCE, PresenceRequest("unavailable"))

    async def test_contact_and_its_lid(self, harness: LinkingHarness, linked: Recorded) -> None:
        card = await linked.client.call(GET_CONTACT, ContactRef(CHAT))
        assert card.jid == CHAT and card.on_whatsapp and card.phone == PHONE
        absent = f"{harness.absent_phone}@s.whatsapp.net"
        assert not (await linked.client.call(GET_CONTACT, ContactRef(absent))).on_whatsapp
        mapping = await linked.client.call(PHONE_TO_LID, ContactRef(CHAT))
        assert mapping.lid.endswith("@lid") and mapping.jid == CHAT
        assert await linked.client.call(LID_TO_PHONE, LidRef(mapping.lid)) == mapping
        assert await linked.client.call(GET_PICTURE, ContactRef(CHAT)) is None

    async def test_blocklist(self, linked: Recorded) -> None:
        blocked = await linked.client.call(UPDATE_BLOCKLIST, BlocklistRequest("block", CHAT))
        assert CHAT in blocked.contacts
        assert await linked.client.call(GET_BLOCKLIST, None) == blocked
        unblocked = await linked.client.call(UPDATE_BLOCKLIST, BlocklistRequest("unblock", CHAT))
        assert CHAT not in unblocked.contacts

    async def test_profile_and_privacy(self, linked: Recorded) -> None:
        profile = await linked.client.call(UPDATE_PROFILE, ProfileUpdate(name="wagate"))
        assert profile.name == "wagate" and profile.jid == linked.of(Connected)[0].jid
        assert (await linked.client.call(GET_PROFILE, None)).name == "wagate"
        privacy = await linked.client.call(UPDATE_PRIVACY, PrivacyUpdate({"calls": "known"}))
        assert privacy.settings["calls"] == "known"
        assert await linked.client.call(GET_PRIVACY, None) == privacy

    async def test_presence_and_chat_settings(self, linked: Recorded) -> None:
        await linked.client.call(SEND_PRESENCE, PresenceRequest("available"))
        await linked.client.call(SUBSCRIBE_PRESENCE, ContactRef(CHAT))
        await linked.client.call(UPDATE_CHAT, ChatSettings(CHAT, archived=True, pinned=False))

    async def test_groups(self, linked: Recorded) -> None:
        """Create a group, read it, change it, add someone, share and read its link, leave."""
        client = linked.client
        me = linked.instance.jid or next(e.jid for e in linked.events if isinstance(e, Connected))
        created = await client.call(CREATE_GROUP, CreateGroupRequest("Team", [CHAT]))
        group = created.group.jid
        assert group.endswith("@g.us") and created.failed == []
        assert created.group.subject == "Team"
        assert {(p.jid, p.role) for p in created.group.participants} == {
            (me, "superadmin"),
            (CHAT, "member"),
        }
        assert [g.jid for g in await client.call(LIST_GROUPS, None)] == [group]
        changed = await client.call(UPDATE_GROUP, UpdateGroupRequest(group, announce=True))
        assert changed.announce and (await client.call(GET_GROUP, GroupRef(group))).announce
        other = "5511912345678@s.whatsapp.net"
        added = await client.call(UPDATE_PARTICIPANTS, ParticipantsRequest(group, "add", [other]))
        assert [(r.jid, r.ok) for r in added] == [(other, True)]
        await client.call(SET_GROUP_PICTURE, GroupPictureRequest(group, b"\xff\xd8\xff"))
        link = await client.call(GROUP_INVITE, InviteRequest(group))
        assert link.url.endswith(link.code)
        info = await client.call(INVITE_INFO, InviteCode(link.code))
        assert info.jid == group
        assert GroupParticipant(other, "5511912345678", "member") in info.participants
        assert await client.call(GROUP_REQUESTS, GroupRef(group)) == []
        await client.call(LEAVE_GROUP, GroupRef(group))
        with pytest.raises(PermanentEngineError) as failure:
            await client.call(GET_GROUP, GroupRef(group))
        assert failure.value.code == "group_not_found"
        with pytest.raises(PermanentEngineError) as failure:
            await client.call(JOIN_BY_INVITE, InviteCode("NoSuchCode"))
        assert failure.value.code == "invite_not_found"
        with pytest.raises(PermanentEngineError) as failure:
            await client.call(ANSWER_REQUESTS, AnswerRequestsRequest(group, "approve", [other]))
        assert failure.value.code == "group_not_found"

    async def test_stop_then_start_resumes_without_a_scan(
        self, harness: LinkingHarness, linked: Recorded
    ) -> None:
        await linked.client.stop()
        again = await harness.client(linked.instance)
        await again.client.start()
        try:
            resumed = await again.first(Connected)
            assert resumed.jid == linked.of(Connected)[0].jid
            assert again.of(QrCode) == []
        finally:
            await again.client.stop()

    async def test_logout_unlinks_the_device(
        self, harness: LinkingHarness, linked: Recorded
    ) -> None:
        await linked.client.logout()
        await not_connected(ACTIONS["send"], linked.client)
        await linked.client.stop()
        again = await harness.client(linked.instance)
        await again.client.start()
        try:
            await again.first(QrCode)  # pairs anew
            assert again.of(Connected) == []
        finally:
            await again.client.stop()

    async def test_stop_of_a_connected_client_ends_the_events(self, linked: Recorded) -> None:
        await linked.client.call(SEND, text_to(CHAT))  # receipts would follow
        await linked.client.stop()
        await linked.quiet_after(len(linked.events))
