"""The whatsmeow engine's group actions: which neonize calls each makes, with what, and what
their answers and failures become. The client is a small recorder standing in for neonize's
`NewAClient` (a real one needs WhatsApp's servers for these calls); it answers with neonize's
own protobufs and raises neonize's own exceptions with whatsmeow's error texts."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from neonize.aioze.events import EVENT_TO_INT, GroupInfoEv, JoinedGroupEv, PictureEv
from neonize.exc import (
    CreateGroupError,
    GetGroupInfoError,
    GetGroupInviteLinkError,
    InviteLinkError,
    SetDisappearingTimerError,
    SetGroupNameError,
    SetGroupPhotoError,
    SetGroupTopicError,
    UpdateGroupParticipantsError,
)
from neonize.proto.Neonize_pb2 import (
    GroupName,
    GroupParticipantAddRequest,
    GroupParticipantRequest,
    GroupTopic,
)
from neonize.proto.Neonize_pb2 import GroupParticipant as ParticipantProto
from neonize.utils.enum import ParticipantChange
from neonize.utils.jid import Jid2String, build_jid

from tests.contract.engine_contract import SAMPLES
from tests.unit.test_whatsmeow_group_mapping import (
    ADMIN,
    GROUP,
    GROUP_JID,
    HIDDEN,
    HIDDEN_PHONE,
    MEMBER,
    WHEN,
    info_proto,
)
from tests.unit.test_whatsmeow_mapping import delivered
from tests.unit.test_whatsmeow_session import HostDouble
from wagate.engines.actions import groups as g
from wagate.engines.base import (
    EngineFailure,
    GroupParticipantsUpdate,
    GroupUpdate,
    NotConnectedError,
    PermanentEngineError,
    TransientEngineError,
)
from wagate.engines.whatsmeow.actions import Actions
from wagate.engines.whatsmeow.session import Session

PHONE = "5511900000003"


class Neonize:
    """Records each group call of neonize's async client and answers it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.info = info_proto()
        self.failures: dict[str, Exception] = {}
        self.changed: list[Any] = []

    def _record(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))
        if name in self.failures:
            raise self.failures[name]

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    async def create_group(self, name: str, participants: list[Any]) -> Any:
        self._record("create_group", name, participants)
        return self.info

    async def get_group_info(self, jid: Any) -> Any:
        self._record("get_group_info", jid)
        return self.info

    async def get_joined_groups(self) -> list[Any]:
        self._record("get_joined_groups")
        return [self.info, info_proto(JID=build_jid("120363000000000002", "g.us"))]

    async def set_group_name(self, jid: Any, name: str) -> None:
        self._record("set_group_name", jid, name)

    async def set_group_topic(self, jid: Any, previous_id: str, new_id: str, topic: str) -> None:
        self._record("set_group_topic", jid, previous_id, new_id, topic)

    async def set_group_announce(self, jid: Any, announce: bool) -> None:
        self._record("set_group_announce", jid, announce)

    async def set_group_locked(self, jid: Any, locked: bool) -> None:
        self._record("set_group_locked", jid, locked)

    async def set_disappearing_timer(self, jid: Any, timer: int) -> None:
        self._record("set_disappearing_timer", jid, timer)

    async def set_group_photo(self, jid: Any, data: bytes) -> str:
        self._record("set_group_photo", jid, data)
        return "PIC1"

    async def update_group_participants(
        self, jid: Any, participants: list[Any], action: ParticipantChange
    ) -> list[Any]:
        self._record("update_group_participants", jid, participants, action)
        return self.changed

    async def get_group_request_participants(self, jid: Any) -> list[Any]:
        self._record("get_group_request_participants", jid)
        return [delivered(GroupParticipantRequest(Participant=MEMBER, TimeAt=WHEN))]

    async def get_group_invite_link(self, jid: Any, revoke: bool = False) -> str:
        self._record("get_group_invite_link", jid, revoke)
        return "https://chat.whatsapp.com/NEWCODE" if revoke else "https://chat.whatsapp.com/CODE1"

    async def get_group_info_from_link(self, code: str) -> Any:
        self._record("get_group_info_from_link", code)
        return self.info

    async def join_group_with_link(self, code: str) -> Any:
        self._record("join_group_with_link", code)
        return GROUP

    async def leave_group(self, jid: Any) -> None:
        self._record("leave_group", jid)

    async def send_message(self, to: Any, message: Any) -> Any:
        self._record("send_message", to, message)
        return None


@pytest.fixture
def linked() -> tuple[Actions, Neonize]:
    session = Session(HostDouble(), 7)  # type: ignore[arg-type]
    client = Neonize()
    session.client, session.state, session.token = client, "connected", "tok"
    session.me = "5511900000001@s.whatsapp.net"
    return Actions(session, 2.0), client


async def run(actions: Actions, action: Any, request: Any) -> Any:
    return await actions.table.run(action, request)


async def test_create_group_with_description_and_an_invite_for_a_private_number(
    linked: tuple[Actions, Neonize],
) -> None:
    actions, client = linked
    invite = GroupParticipantAddRequest(Code="INV1", Expiration=float(WHEN))
    client.info = info_proto(
        Participants=[
            ParticipantProto(JID=build_jid("5511900000001"), IsAdmin=True, IsSuperAdmin=True),
            ParticipantProto(JID=MEMBER),
            ParticipantProto(JID=HIDDEN, PhoneNumber=HIDDEN_PHONE, Error=403, AddRequest=invite),
            ParticipantProto(JID=ADMIN, Error=404),
        ]
    )
    request = g.CreateGroupRequest("Team", [f"+{PHONE}", "5511900000004", "5511900000002"], "Hi")
    created = await run(actions, g.CREATE_GROUP, request)
    assert client.names() == ["create_group", "set_group_topic", "send_message"]
    name, people = client.calls[0][1]
    assert name == "Team"
    assert [Jid2String(p) for p in people] == [
        f"{PHONE}@s.whatsapp.net",
        "5511900000004@s.whatsapp.net",
        "5511900000002@s.whatsapp.net",
    ]
    assert client.calls[1][1][1:] == ("", "", "Hi")  # whatsmeow looks the previous topic up
    assert created.group.description == "Hi"
    assert [p.jid for p in created.group.participants] == [
        "5511900000001@s.whatsapp.net",
        f"{PHONE}@s.whatsapp.net",
    ]
    assert created.failed == [
        g.ParticipantResult("5511900000004@s.whatsapp.net", False, "privacy", invited=True),
        g.ParticipantResult("5511900000002@s.whatsapp.net", False, "not_on_whatsapp"),
    ]
    to, message = client.calls[2][1]
    assert to.Server == "lid"
    sent = message.groupInviteMessage
    assert (sent.groupJID, sent.inviteCode, sent.groupName) == (GROUP_JID, "INV1", "Team")
    assert sent.inviteExpiration == WHEN
    message.SerializeToString()  # complete: every required field set


async def test_a_created_group_is_answered_even_when_its_description_fails(
    linked: tuple[Actions, Neonize],
) -> None:
    actions, client = linked
    client.info = info_proto(GroupTopic=GroupTopic())
    client.failures["set_group_topic"] = SetGroupTopicError("info query timed out")
    created = await run(actions, g.CREATE_GROUP, g.CreateGroupRequest("Team", [PHONE], "Hi"))
    assert created.group.jid == GROUP_JID and created.group.description is None
    assert client.names() == ["create_group", "set_group_topic"]


async def test_a_failed_invite_leaves_the_refusal_uninvited(
    linked: tuple[Actions, Neonize],
) -> None:
    actions, client = linked
    invite = GroupParticipantAddRequest(Code="INV1", Expiration=float(WHEN))
    client.changed = [delivered(ParticipantProto(JID=MEMBER, Error=403, AddRequest=invite))]
    client.failures["send_message"] = RuntimeError("websocket not connected")
    [result] = await run(
        actions, g.UPDATE_PARTICIPANTS, g.ParticipantsRequest(GROUP_JID, "add", [PHONE])
    )
    assert result == g.ParticipantResult(f"{PHONE}@s.whatsapp.net", False, "privacy")


async def test_an_add_answers_its_results_even_when_the_groups_name_cannot_be_read(
    linked: tuple[Actions, Neonize],
) -> None:
    actions, client = linked
    invite = GroupParticipantAddRequest(Code="INV1", Expiration=float(WHEN))
    client.changed = [delivered(ParticipantProto(JID=MEMBER, Error=403, AddRequest=invite))]
    client.failures["get_group_info"] = GetGroupInfoError("info query timed out")
    [result] = await run(
        actions, g.UPDATE_PARTICIPANTS, g.ParticipantsRequest(GROUP_JID, "add", [PHONE])
    )
    assert result.error == "privacy" and result.invited
    assert client.calls[-1][1][1].groupInviteMessage.groupName == ""


async def test_list_and_get(linked: tuple[Actions, Neonize]) -> None:
    actions, client = linked
    groups = await run(actions, g.LIST_GROUPS, None)
    assert [group.jid for group in groups] == [GROUP_JID, "120363000000000002@g.us"]
    group = await run(actions, g.GET_GROUP, g.GroupRef(GROUP_JID))
    assert group.subject == "Team" and Jid2String(client.calls[-1][1][0]) == GROUP_JID


async def test_update_makes_one_call_per_field_then_reads_the_group(
    linked: tuple[Actions, Neonize],
) -> None:
    actions, client = linked
    request = g.UpdateGroupRequest(
        GROUP_JID, subject="New", description="", announce=True, locked=False, ephemeral_s=86400
    )
    group = await run(actions, g.UPDATE_GROUP, request)
    assert client.names() == [
        "set_group_name",
        "set_group_topic",
        "set_group_announce",
        "set_group_locked",
        "set_disappearing_timer",
        "get_group_info",
    ]
    args = [call[1][1:] for call in client.calls]
    assert args[:5] == [("New",), ("", "", ""), (True,), (False,), (86400 * 10**9,)]
    assert group == await run(actions, g.GET_GROUP, g.GroupRef(GROUP_JID))
    # Only the subject: one change.
    client.calls.clear()
    await run(actions, g.UPDATE_GROUP, g.UpdateGroupRequest(GROUP_JID, subject="Only"))
    assert client.names() == ["set_group_name", "get_group_info"]


async def test_the_first_refusal_stops_an_update(linked: tuple[Actions, Neonize]) -> None:
    actions, client = linked
    client.failures["set_group_name"] = SetGroupNameError(
        "info query returned status 401: not-authorized"
    )
    request = g.UpdateGroupRequest(GROUP_JID, subject="New", announce=True)
    with pytest.raises(PermanentEngineError) as failure:
        await run(actions, g.UPDATE_GROUP, request)
    assert failure.value.code == "not_group_admin" and failure.value.status == 403
    assert client.names() == ["set_group_name"]


@pytest.mark.parametrize(
    ("action", "request_"),
    [
        (g.UPDATE_GROUP, g.UpdateGroupRequest(GROUP_JID, subject="x", join_approval=True)),
        (g.ANSWER_REQUESTS, g.AnswerRequestsRequest(GROUP_JID, "approve", [PHONE])),
        (g.SET_GROUP_PICTURE, g.GroupPictureRequest(GROUP_JID, None)),
    ],
    ids=["join_approval", "answer_requests", "remove_picture"],
)
async def test_what_neonize_cannot_do_is_refused_before_any_change(
    linked: tuple[Actions, Neonize], action: Any, request_: Any
) -> None:
    actions, client = linked
    with pytest.raises(PermanentEngineError) as failure:
        await run(actions, action, request_)
    assert failure.value.code == "not_supported" and failure.value.status == 501
    assert client.calls == []


async def test_picture(linked: tuple[Actions, Neonize]) -> None:
    actions, client = linked
    await run(actions, g.SET_GROUP_PICTURE, g.GroupPictureRequest(GROUP_JID, b"\xff\xd8jpeg"))
    assert client.calls[0][0] == "set_group_photo" and client.calls[0][1][1] == b"\xff\xd8jpeg"


@pytest.mark.parametrize("verb", ["add", "remove", "promote", "demote"])
async def test_participants(linked: tuple[Actions, Neonize], verb: Any) -> None:
    actions, client = linked
    client.changed = [
        delivered(ParticipantProto(JID=MEMBER)),
        delivered(ParticipantProto(JID=ADMIN, Error=409 if verb == "add" else 404)),
    ]
    request = g.ParticipantsRequest(GROUP_JID, verb, [PHONE, "5511900000002@s.whatsapp.net"])
    results = await run(actions, g.UPDATE_PARTICIPANTS, request)
    _, (jid, people, change) = client.calls[0]
    assert Jid2String(jid) == GROUP_JID and change == ParticipantChange(verb)
    assert [Jid2String(p) for p in people] == [
        f"{PHONE}@s.whatsapp.net",
        "5511900000002@s.whatsapp.net",
    ]
    assert [(r.ok, r.error) for r in results] == [
        (True, None),
        (False, "already_in_group" if verb == "add" else "not_in_group"),
    ]
    assert client.names() == ["update_group_participants"]  # no invite to send


async def test_requests_invites_join_and_leave(linked: tuple[Actions, Neonize]) -> None:
    actions, client = linked
    [pending] = await run(actions, g.GROUP_REQUESTS, g.GroupRef(GROUP_JID))
    assert pending.jid == f"{PHONE}@s.whatsapp.net" and pending.phone == PHONE
    link = await run(actions, g.GROUP_INVITE, g.InviteRequest(GROUP_JID))
    assert link == g.InviteLink("CODE1", "https://chat.whatsapp.com/CODE1")
    reset = await run(actions, g.GROUP_INVITE, g.InviteRequest(GROUP_JID, reset=True))
    assert reset.code == "NEWCODE" and client.calls[-1][1][1] is True
    info = await run(actions, g.INVITE_INFO, g.InviteCode("CODE1"))
    assert info.jid == GROUP_JID and client.calls[-1] == ("get_group_info_from_link", ("CODE1",))
    joined = await run(actions, g.JOIN_BY_INVITE, g.InviteCode("CODE1"))
    assert joined == g.GroupRef(GROUP_JID)
    assert await run(actions, g.LEAVE_GROUP, g.GroupRef(GROUP_JID)) is None
    assert client.calls[-1][0] == "leave_group"


FAILURES: list[tuple[str, Any, Any, Exception, type[EngineFailure], str]] = [
    (
        "get_group_info",
        g.GET_GROUP,
        g.GroupRef(GROUP_JID),
        GetGroupInfoError("you're not participating in that group"),
        PermanentEngineError,
        "group_not_found",
    ),
    (
        "get_group_info",
        g.GET_GROUP,
        g.GroupRef(GROUP_JID),
        GetGroupInfoError("that group does not exist"),
        PermanentEngineError,
        "group_not_found",
    ),
    (
        "get_group_invite_link",
        g.GROUP_INVITE,
        g.InviteRequest(GROUP_JID),
        GetGroupInviteLinkError("you don't have the permission to get the group's invite link"),
        PermanentEngineError,
        "not_group_admin",
    ),
    (
        "update_group_participants",
        g.UPDATE_PARTICIPANTS,
        g.ParticipantsRequest(GROUP_JID, "remove", [PHONE]),
        UpdateGroupParticipantsError("info query returned status 403: forbidden"),
        PermanentEngineError,
        "not_group_admin",
    ),
    (
        "get_group_info_from_link",
        g.INVITE_INFO,
        g.InviteCode("OLD"),
        GetGroupInfoError("that group invite link has been revoked"),
        PermanentEngineError,
        "invite_not_found",
    ),
    (
        "join_group_with_link",
        g.JOIN_BY_INVITE,
        g.InviteCode("BAD"),
        InviteLinkError("that group invite link is not valid"),
        PermanentEngineError,
        "invite_not_found",
    ),
    (
        "create_group",
        g.CREATE_GROUP,
        g.CreateGroupRequest("x" * 200, [PHONE]),
        CreateGroupError("info query returned status 400: bad-request"),
        PermanentEngineError,
        "engine_error",
    ),
    (
        "set_group_topic",
        g.UPDATE_GROUP,
        g.UpdateGroupRequest(GROUP_JID, description="d"),
        SetGroupTopicError(
            "failed to get old group info to update topic: you're not participating in that group"
        ),
        PermanentEngineError,
        "group_not_found",
    ),
    (
        "set_disappearing_timer",
        g.UPDATE_GROUP,
        g.UpdateGroupRequest(GROUP_JID, ephemeral_s=12345),
        SetDisappearingTimerError("invalid disappearing timer provided"),
        PermanentEngineError,
        "engine_error",
    ),
    (
        "set_group_photo",
        g.SET_GROUP_PICTURE,
        g.GroupPictureRequest(GROUP_JID, b"not an image"),
        SetGroupPhotoError("the given data is not a valid image"),
        PermanentEngineError,
        "engine_error",
    ),
    (
        "get_joined_groups",
        g.LIST_GROUPS,
        None,
        RuntimeError("info query returned status 429: rate-overlimit"),
        TransientEngineError,
        "engine_error",
    ),
    (
        "leave_group",
        g.LEAVE_GROUP,
        g.GroupRef(GROUP_JID),
        RuntimeError("websocket not connected"),
        TransientEngineError,
        "engine_error",
    ),
]


@pytest.mark.parametrize(
    ("call", "action", "request_", "raised", "kind", "code"),
    FAILURES,
    ids=[f"{row[0]}-{row[5]}" for row in FAILURES],
)
async def test_failures_become_their_declared_codes(
    linked: tuple[Actions, Neonize],
    call: str,
    action: Any,
    request_: Any,
    raised: Exception,
    kind: type[EngineFailure],
    code: str,
) -> None:
    actions, client = linked
    client.failures[call] = raised
    with pytest.raises(EngineFailure) as failure:
        await run(actions, action, request_)
    assert type(failure.value) is kind and failure.value.code == code
    assert code == "engine_error" or code in action.failures  # only declared codes


async def test_every_group_action_needs_the_connection(linked: tuple[Actions, Neonize]) -> None:
    actions, client = linked
    actions.session.state = "connecting"
    for action in (
        g.CREATE_GROUP,
        g.LIST_GROUPS,
        g.GET_GROUP,
        g.UPDATE_GROUP,
        g.SET_GROUP_PICTURE,
        g.UPDATE_PARTICIPANTS,
        g.GROUP_REQUESTS,
        g.ANSWER_REQUESTS,
        g.GROUP_INVITE,
        g.INVITE_INFO,
        g.JOIN_BY_INVITE,
        g.LEAVE_GROUP,
    ):
        with pytest.raises(NotConnectedError):
            await run(actions, action, SAMPLES[action.name])
    assert client.calls == []


async def test_session_emits_group_events(linked: tuple[Actions, Neonize]) -> None:
    actions, _ = linked
    session = actions.session
    host: HostDouble = session.host  # type: ignore[assignment]
    emitters: list[tuple[Callable[[Any, Any], Any], Any]] = [
        (
            session._on_group_info,
            GroupInfoEv(
                JID=GROUP, Timestamp=WHEN, Sender=ADMIN, Name=GroupName(Name="N"), Join=[MEMBER]
            ),
        ),
        (session._on_joined_group, JoinedGroupEv(GroupInfo=info_proto(), Sender=ADMIN)),
        (session._on_picture, PictureEv(JID=GROUP, Author=ADMIN, Timestamp=WHEN)),
    ]
    for handler, event in emitters:
        await handler(session.client, delivered(event))
    kinds = [(type(e).__name__, getattr(e, "action", None)) for _, _, e in host.events]
    assert kinds == [
        ("GroupUpdate", None),
        ("GroupParticipantsUpdate", "added"),
        ("GroupParticipantsUpdate", "added"),
        ("GroupUpdate", None),
    ]
    assert all(token == "tok" for _, token, _ in host.events)
    assert isinstance(host.events[0][2], GroupUpdate)
    mine = host.events[2][2]
    assert isinstance(mine, GroupParticipantsUpdate)
    assert mine.participants == ["5511900000001@s.whatsapp.net"]
    # A stopped session reports nothing more.
    session.token = None
    await session._on_picture(session.client, delivered(emitters[2][1]))
    assert len(host.events) == 4


async def test_the_session_registers_the_group_events_with_neonize(tmp_path: Path) -> None:
    """The handlers as neonize calls them (by event code, wrapped), on a real client."""
    host = HostDouble()
    session = Session(host, 9107)  # type: ignore[arg-type]
    client = session._make_client(str(tmp_path / "store.sqlite3"))
    session.client, session.token, session.me = client, "tok", "5511900000001@s.whatsapp.net"
    events = [
        GroupInfoEv(JID=GROUP, Timestamp=WHEN, Sender=ADMIN, Name=GroupName(Name="N")),
        JoinedGroupEv(GroupInfo=info_proto(), Sender=ADMIN),
        PictureEv(JID=GROUP, Author=ADMIN, Timestamp=WHEN, Remove=True),
    ]
    for event in events:
        handler = client.event.list_func[EVENT_TO_INT[type(event)]]
        await handler(client, delivered(event))
    assert [type(e).__name__ for _, _, e in host.events] == [
        "GroupUpdate",
        "GroupParticipantsUpdate",
        "GroupUpdate",
    ]
