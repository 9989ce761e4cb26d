"""neonize's group protobufs (GroupInfo, participants, GroupInfoEv, JoinedGroupEv, PictureEv),
built as neonize delivers them, through the group mapping."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from neonize.aioze.client import NewAClient
from neonize.aioze.events import GroupInfoEv, JoinedGroupEv, PictureEv
from neonize.proto.Neonize_pb2 import (
    GroupAnnounce,
    GroupEphemeral,
    GroupLocked,
    GroupName,
    GroupParticipantAddRequest,
    GroupParticipantRequest,
    GroupTopic,
    Node,
)
from neonize.proto.Neonize_pb2 import GroupInfo as GroupInfoProto
from neonize.proto.Neonize_pb2 import GroupParticipant as ParticipantProto
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message
from neonize.utils.jid import build_jid

from tests.unit.test_whatsmeow_mapping import delivered, message_event, run
from wagate.engines.actions import groups as g
from wagate.engines.actions.groups import GroupInfo, GroupParticipant, JoinRequest
from wagate.engines.base import GroupParticipantsUpdate, GroupUpdate, OutgoingMessage
from wagate.engines.whatsmeow import group_mapping, protocol
from wagate.engines.whatsmeow.builders import build_message

GROUP = build_jid("120363012345678901", "g.us")
GROUP_JID = "120363012345678901@g.us"
OWNER = build_jid("5511900000001")
ADMIN = build_jid("5511900000002")
MEMBER = build_jid("5511900000003")
HIDDEN = build_jid("99887766554433", "lid")  # a LID whose number WhatsApp shows
HIDDEN_PHONE = build_jid("5511900000004")
UNKNOWN = build_jid("11223344556677", "lid")  # a LID with no number known
WHEN = 1_767_225_600  # 2026-01-01T00:00:00Z
AT = datetime(2026, 1, 1, tzinfo=UTC)


def participant(jid: Any, **fields: Any) -> Any:
    return ParticipantProto(JID=jid, **fields)


def info_proto(**fields: Any) -> Any:
    values: dict[str, Any] = {
        "JID": GROUP,
        "OwnerJID": OWNER,
        "GroupName": GroupName(Name="Team", NameSetAt=WHEN),
        "GroupTopic": GroupTopic(Topic="Plans", TopicID="T1"),
        "GroupAnnounce": GroupAnnounce(IsAnnounce=True),
        "GroupLocked": GroupLocked(isLocked=False),
        "GroupEphemeral": GroupEphemeral(IsEphemeral=True, DisappearingTimer=86400),
        "GroupCreated": float(WHEN),
        "Participants": [
            participant(OWNER, IsAdmin=True, IsSuperAdmin=True),
            participant(ADMIN, IsAdmin=True),
            participant(MEMBER),
            participant(HIDDEN, PhoneNumber=HIDDEN_PHONE),
            participant(UNKNOWN),
        ],
    }
    values.update(fields)
    return delivered(GroupInfoProto(**values))


def test_group_info_maps_every_field() -> None:
    assert group_mapping.group_info(info_proto()) == GroupInfo(
        jid=GROUP_JID,
        subject="Team",
        description="Plans",
        owner="5511900000001@s.whatsapp.net",
        created_at=AT,
        announce=True,
        locked=False,
        join_approval=False,
        ephemeral_s=86400,
        participants=[
            GroupParticipant("5511900000001@s.whatsapp.net", "5511900000001", "superadmin"),
            GroupParticipant("5511900000002@s.whatsapp.net", "5511900000002", "admin"),
            GroupParticipant("5511900000003@s.whatsapp.net", "5511900000003", "member"),
            # A LID with its number: the phone-number JID, as message senders are given.
            GroupParticipant("5511900000004@s.whatsapp.net", "5511900000004", "member"),
            # A LID alone stays a LID, with no phone.
            GroupParticipant("11223344556677@lid", None, "member"),
        ],
    )


def test_group_info_defaults_and_owner_number() -> None:
    info = group_mapping.group_info(
        info_proto(
            OwnerJID=HIDDEN,
            OwnerPN=HIDDEN_PHONE,
            GroupTopic=GroupTopic(Topic="old", TopicDeleted=True),
            GroupEphemeral=GroupEphemeral(IsEphemeral=False, DisappearingTimer=604800),
            GroupAnnounce=GroupAnnounce(IsAnnounce=False),
            GroupLocked=GroupLocked(isLocked=True),
            GroupCreated=0.0,
            Participants=[participant(MEMBER), participant(ADMIN, Error=409)],
        )
    )
    assert info.owner == "5511900000004@s.whatsapp.net"  # OwnerPN over a LID owner
    assert info.description is None and info.ephemeral_s == 0 and info.created_at is None
    assert info.locked and not info.announce
    # A participant with an error is not in the group (a create's refusals come back so).
    assert [p.jid for p in info.participants] == ["5511900000003@s.whatsapp.net"]


def test_participant_results_and_refusals() -> None:
    invite = GroupParticipantAddRequest(Code="INV1", Expiration=float(WHEN + 86400))
    changed = [
        delivered(participant(MEMBER, Error=200)),
        delivered(participant(ADMIN)),
        delivered(participant(HIDDEN, PhoneNumber=HIDDEN_PHONE, Error=403, AddRequest=invite)),
        delivered(participant(OWNER, Error=409)),
        delivered(participant(UNKNOWN, Error=404)),
        delivered(participant(build_jid("5511900000009"), Error=408)),
        delivered(participant(build_jid("5511900000008"), Error=403)),
        delivered(participant(build_jid("5511900000007"), Error=499)),
    ]
    results, refusals = group_mapping.participant_results(changed, "add")
    assert [(r.jid, r.ok, r.error) for r in results] == [
        ("5511900000003@s.whatsapp.net", True, None),
        ("5511900000002@s.whatsapp.net", True, None),
        ("5511900000004@s.whatsapp.net", False, "privacy"),
        ("5511900000001@s.whatsapp.net", False, "already_in_group"),
        ("11223344556677@lid", False, "not_on_whatsapp"),
        ("5511900000009@s.whatsapp.net", False, "recently_left"),
        ("5511900000008@s.whatsapp.net", False, "privacy"),
        ("5511900000007@s.whatsapp.net", False, "error_499"),
    ]
    assert not any(r.invited for r in results)  # only a sent invite sets it
    offered = [r for r in refusals if r.invite_code]
    assert len(refusals) == 6 and len(offered) == 1
    assert offered[0].invite_code == "INV1" and offered[0].invite_expires == WHEN + 86400
    assert offered[0].to.Server == "lid"  # the invite goes to the participant as delivered
    # A 404 on anything but an add: not a participant.
    removed, _ = group_mapping.participant_results(
        [delivered(participant(MEMBER, Error=404))], "remove"
    )
    assert removed[0].error == "not_in_group"


def test_join_requests_and_invite_code() -> None:
    requests = [
        delivered(GroupParticipantRequest(Participant=MEMBER, TimeAt=WHEN)),
        delivered(GroupParticipantRequest(Participant=UNKNOWN, TimeAt=0)),
    ]
    assert group_mapping.join_requests(requests) == [
        JoinRequest("5511900000003@s.whatsapp.net", "5511900000003", AT),
        JoinRequest("11223344556677@lid", None, None),
    ]
    assert group_mapping.invite_code("https://chat.whatsapp.com/AbCdEf123") == "AbCdEf123"
    assert group_mapping.invite_code("AbCdEf123") == "AbCdEf123"


class Lids:
    """The LID store of a linked client: what get_pn_from_lid would answer."""

    def __init__(self, known: dict[str, Any] | None = None) -> None:
        self.known = known or {}
        self.asked: list[str] = []

    async def __call__(self, jid: Any) -> Any | None:
        self.asked.append(str(jid.User))
        return self.known.get(str(jid.User))


def info_event(**fields: Any) -> Any:
    return delivered(GroupInfoEv(JID=GROUP, Timestamp=WHEN, **fields))


async def test_settings_changes_are_one_group_update() -> None:
    lids = Lids({"99887766554433": HIDDEN_PHONE})
    event = info_event(
        Sender=HIDDEN,
        Name=GroupName(Name="New name"),
        Topic=GroupTopic(Topic="New rules", TopicID="T2"),
        Announce=GroupAnnounce(IsAnnounce=True),
        Locked=GroupLocked(isLocked=True),
        Ephemeral=GroupEphemeral(IsEphemeral=True, DisappearingTimer=604800),
        NewInviteLink="https://chat.whatsapp.com/NEW",
    )
    assert await group_mapping.group_info_event(event, lids) == [
        GroupUpdate(
            group=GROUP_JID,
            actor="5511900000004@s.whatsapp.net",  # the LID of the sender, resolved
            changes={
                "subject": "New name",
                "description": "New rules",
                "announce": True,
                "locked": True,
                "ephemeral_s": 604800,
                "invite": "reset",
            },
            timestamp=AT,
        )
    ]
    off = info_event(
        Sender=ADMIN,
        Topic=GroupTopic(TopicDeleted=True),
        Ephemeral=GroupEphemeral(IsEphemeral=False),
    )
    [update] = await group_mapping.group_info_event(off, Lids())
    assert isinstance(update, GroupUpdate)
    assert update.changes == {"description": None, "ephemeral_s": 0}


async def test_membership_changes_name_who_did_them() -> None:
    added = info_event(Sender=ADMIN, Join=[MEMBER, UNKNOWN], Promote=[MEMBER])
    assert await group_mapping.group_info_event(added, Lids()) == [
        GroupParticipantsUpdate(
            GROUP_JID,
            "5511900000002@s.whatsapp.net",
            "added",
            ["5511900000003@s.whatsapp.net", "11223344556677@lid"],
            AT,
        ),
        GroupParticipantsUpdate(
            GROUP_JID,
            "5511900000002@s.whatsapp.net",
            "promoted",
            ["5511900000003@s.whatsapp.net"],
            AT,
        ),
    ]
    # Someone known by LID who left: compared as delivered, reported by number.
    hidden_left = info_event(Sender=HIDDEN, Leave=[HIDDEN])
    [hidden] = await group_mapping.group_info_event(
        hidden_left, Lids({"99887766554433": HIDDEN_PHONE})
    )
    assert isinstance(hidden, GroupParticipantsUpdate) and hidden.action == "left"
    assert hidden.participants == ["5511900000004@s.whatsapp.net"] == [hidden.actor]
    by_link = info_event(Sender=MEMBER, Join=[MEMBER], JoinReason="invite")
    [joined] = await group_mapping.group_info_event(by_link, Lids())
    assert isinstance(joined, GroupParticipantsUpdate) and joined.action == "joined"
    left = info_event(Sender=MEMBER, Leave=[MEMBER])
    removed = info_event(Sender=ADMIN, Leave=[MEMBER], Demote=[OWNER])
    [gone] = await group_mapping.group_info_event(left, Lids())
    kicked, demoted = await group_mapping.group_info_event(removed, Lids())
    assert isinstance(gone, GroupParticipantsUpdate) and gone.action == "left"
    assert isinstance(kicked, GroupParticipantsUpdate) and kicked.action == "removed"
    assert isinstance(demoted, GroupParticipantsUpdate) and demoted.action == "demoted"
    assert demoted.participants == ["5511900000001@s.whatsapp.net"]
    # No sender (WhatsApp does not always say): a join or a leave of their own.
    anonymous = info_event(Join=[MEMBER], Leave=[ADMIN])
    join, leave = await group_mapping.group_info_event(anonymous, Lids())
    assert isinstance(join, GroupParticipantsUpdate) and join.actor is None
    assert join.action == "joined"
    assert isinstance(leave, GroupParticipantsUpdate) and leave.action == "left"


async def test_an_event_with_nothing_known_maps_to_nothing() -> None:
    assert await group_mapping.group_info_event(info_event(Sender=ADMIN), Lids()) == []


async def test_joined_group_is_the_accounts_own_membership() -> None:
    me = "5511900000003@s.whatsapp.net"
    added = delivered(JoinedGroupEv(Reason="", Type="", GroupInfo=info_proto(), Sender=ADMIN))
    update = await group_mapping.joined_group(added, me, Lids())
    assert update == GroupParticipantsUpdate(
        GROUP_JID,
        "5511900000002@s.whatsapp.net",
        "added",
        [me],
        update.timestamp,  # type: ignore[union-attr]
    )
    by_link = delivered(
        JoinedGroupEv(Reason="invite", GroupInfo=info_proto(), Sender=HIDDEN, SenderPN=MEMBER)
    )
    joined = await group_mapping.joined_group(by_link, me, Lids())
    assert isinstance(joined, GroupParticipantsUpdate) and joined.action == "joined"
    assert joined.actor == me  # SenderPN over the LID
    created = delivered(JoinedGroupEv(Type="new", GroupInfo=info_proto(), Sender=MEMBER))
    own = await group_mapping.joined_group(created, me, Lids())
    assert isinstance(own, GroupParticipantsUpdate)
    assert own.action == "joined" and own.timestamp == AT  # the group's creation time
    assert await group_mapping.joined_group(added, None, Lids()) is None  # not linked yet


async def test_picture_changes_of_groups_only() -> None:
    set_event = delivered(PictureEv(JID=GROUP, Author=ADMIN, Timestamp=WHEN, Remove=False))
    assert await group_mapping.picture(set_event, Lids()) == GroupUpdate(
        GROUP_JID, "5511900000002@s.whatsapp.net", {"picture": "set"}, AT
    )
    removed = delivered(PictureEv(JID=GROUP, Timestamp=WHEN, Remove=True))
    update = await group_mapping.picture(removed, Lids())
    assert isinstance(update, GroupUpdate)
    assert update.changes == {"picture": "removed"} and update.actor is None
    contact = delivered(PictureEv(JID=MEMBER, Author=MEMBER, Timestamp=WHEN))
    assert await group_mapping.picture(contact, Lids()) is None


async def test_a_group_message_is_the_groups_chat_from_its_participant() -> None:
    inbound = await run(
        message_event(
            Message(conversation="hi all"),
            sender=HIDDEN,
            chat=GROUP,
            IsGroup=True,
            SenderAlt=HIDDEN_PHONE,
        )
    )
    assert inbound.chat == GROUP_JID  # never the participant, even with a LID sender
    assert inbound.sender == "5511900000004@s.whatsapp.net"


async def test_mentions_in_a_group_send_are_the_mentioned_jids(tmp_path: Path) -> None:
    client = NewAClient(str(tmp_path / "store.sqlite3"), uuid=f"mentions-{tmp_path.name}")
    # The gateway resolves `everyone` to the participants before the engine: JIDs arrive.
    message = OutgoingMessage(
        kind="text",
        to_jid=GROUP_JID,
        body={"text": "meeting at 3"},
        correlation_id="c1",
        mentions=("5511900000002", "+55 11 90000-0003", "11223344556677@lid"),
    )
    built = await build_message(client, message, None)
    assert built.extendedTextMessage.text == "meeting at 3"
    assert list(built.extendedTextMessage.contextInfo.mentionedJID) == [
        "5511900000002@s.whatsapp.net",
        "5511900000003@s.whatsapp.net",
        "11223344556677@lid",
    ]
    type(built).FromString(built.SerializeToString())  # complete, encodable


async def test_a_request_to_join_is_reported_from_the_unparsed_change() -> None:
    asked = info_event(Sender=MEMBER, UnknownChanges=[Node(Tag="created_membership_requests")])
    assert await group_mapping.group_info_event(asked, Lids()) == [
        GroupParticipantsUpdate(
            GROUP_JID,
            "5511900000003@s.whatsapp.net",
            "join_requested",
            ["5511900000003@s.whatsapp.net"],
            AT,
        )
    ]
    other = info_event(Sender=MEMBER, UnknownChanges=[Node(Tag="something_else")])
    assert await group_mapping.group_info_event(other, Lids()) == []


async def test_group_values_and_events_cross_the_host_channel_as_they_are() -> None:
    events = await group_mapping.group_info_event(
        info_event(
            Sender=ADMIN,
            Name=GroupName(Name="N"),
            Topic=GroupTopic(TopicDeleted=True),
            Join=[MEMBER],
        ),
        Lids(),
    )
    for event in events:
        wire = protocol.decode(protocol.encode(protocol.event_to_wire(event))[4:])
        assert protocol.event_from_wire(wire) == event
    created = g.CreatedGroup(
        group=group_mapping.group_info(info_proto()),
        failed=[g.ParticipantResult("5511900000004@s.whatsapp.net", False, "privacy", True)],
    )
    picture = g.GroupPictureRequest(GROUP_JID, b"\xff\xd8\x00binary")
    for action, request, result in [
        (g.CREATE_GROUP, g.CreateGroupRequest("Team", ["5511900000003"], "Hi"), created),
        (g.SET_GROUP_PICTURE, picture, None),
        (
            g.GROUP_REQUESTS,
            g.GroupRef(GROUP_JID),
            group_mapping.join_requests(
                [delivered(GroupParticipantRequest(Participant=MEMBER, TimeAt=WHEN))]
            ),
        ),
    ]:
        sent = protocol.decode(protocol.encode({"r": action.dump_request(request)})[4:])["r"]
        assert action.load_request(sent) == request
        back = protocol.decode(protocol.encode({"r": action.dump_result(result)})[4:])["r"]
        assert action.load_result(back) == result
