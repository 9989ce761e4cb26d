"""neonize's group protobufs as the gateway's group values and events (engine host side).

Pure functions over what neonize 0.5.2 hands over (`GroupInfo`, `GroupParticipant`,
`GroupParticipantRequest`, `GroupInfoEv`, `JoinedGroupEv`, `PictureEv`), so tests can feed
them real protobufs. Looking a LID up needs a linked client, so it is passed in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from wagate.engines.actions.groups import (
    GroupInfo,
    GroupParticipant,
    JoinRequest,
    ParticipantAction,
    ParticipantResult,
    Role,
)
from wagate.engines.base import EngineEvent, GroupParticipantsUpdate, GroupUpdate
from wagate.engines.whatsmeow.jids import is_empty, is_lid, jid_string
from wagate.engines.whatsmeow.mapping import Resolve, to_datetime

PHONE_SERVER = "s.whatsapp.net"
INVITE_PREFIX = "https://chat.whatsapp.com/"
JOIN_REQUEST_TAG = "created_membership_requests"  # someone asked to join (approval mode on)
# The `error` WhatsApp puts on a participant it did not change (whatsmeow's
# GroupParticipant.Error), as the gateway's ParticipantResult.error. 403 comes with an
# `add_request` (a code to invite them with) when their privacy settings refuse adds. A code
# whose meaning is not established is passed on as `error_<code>`.
PARTICIPANT_ERRORS = {
    403: "privacy",
    408: "recently_left",
    409: "already_in_group",
}
NOT_FOUND = 404  # add: no such WhatsApp account; the others: not a participant


def _time(seconds: float) -> datetime | None:
    return datetime.fromtimestamp(seconds, UTC) if seconds > 0 else None


def _present(jid: Any) -> bool:
    return not is_empty(jid) and not bool(getattr(jid, "IsEmpty", False))


def participant_jid(participant: Any) -> tuple[str, str | None]:
    """The participant's JID and phone digits: the phone-number JID where WhatsApp gives it
    (as the gateway's message senders are), else the LID as delivered with no phone."""
    jid = participant.JID
    if str(jid.Server) == PHONE_SERVER:
        return jid_string(jid), str(jid.User)
    number = participant.PhoneNumber
    if _present(number) and str(number.Server) == PHONE_SERVER:
        return jid_string(number), str(number.User)
    return jid_string(jid), None


def _role(participant: Any) -> Role:
    if participant.IsSuperAdmin:
        return "superadmin"
    return "admin" if participant.IsAdmin else "member"


def group_info(info: Any) -> GroupInfo:
    """A neonize `GroupInfo` as the declared GroupInfo. neonize 0.5.2 does not carry the
    membership approval mode, so `join_approval` reads False."""
    owner = info.OwnerPN if _present(info.OwnerPN) else info.OwnerJID
    topic = info.GroupTopic
    ephemeral = info.GroupEphemeral
    participants = []
    for item in info.Participants:
        if item.Error:
            continue  # not in the group: a create's refusals come back in the same list
        jid, phone = participant_jid(item)
        participants.append(GroupParticipant(jid=jid, phone=phone, role=_role(item)))
    return GroupInfo(
        jid=jid_string(info.JID),
        subject=str(info.GroupName.Name),
        description=None if topic.TopicDeleted or not topic.Topic else str(topic.Topic),
        owner=jid_string(owner) if _present(owner) else None,
        created_at=_time(float(info.GroupCreated)),
        announce=bool(info.GroupAnnounce.IsAnnounce),
        locked=bool(info.GroupLocked.isLocked),
        ephemeral_s=int(ephemeral.DisappearingTimer) if ephemeral.IsEphemeral else 0,
        participants=participants,
    )


@dataclass(frozen=True, slots=True)
class Refusal:
    """A participant WhatsApp did not change, with the invite code when it offers one."""

    result: ParticipantResult
    to: Any  # the participant's JID proto, to send the invite to
    invite_code: str | None = None
    invite_expires: int = 0


def participant_results(
    participants: Iterable[Any], action: ParticipantAction
) -> tuple[list[ParticipantResult], list[Refusal]]:
    """What became of each participant of an update: all results, and the refusals."""
    results: list[ParticipantResult] = []
    refusals: list[Refusal] = []
    for item in participants:
        jid, _ = participant_jid(item)
        code = int(item.Error)
        if code in (0, 200):
            results.append(ParticipantResult(jid=jid, ok=True))
            continue
        result = ParticipantResult(jid=jid, ok=False, error=participant_error(code, action))
        results.append(result)
        invite = item.AddRequest if item.HasField("AddRequest") else None
        if invite is not None and invite.Code:
            refusals.append(Refusal(result, item.JID, str(invite.Code), int(invite.Expiration)))
        else:
            refusals.append(Refusal(result, item.JID))
    return results, refusals


def participant_error(code: int, action: ParticipantAction) -> str:
    if code == NOT_FOUND:
        return "not_on_whatsapp" if action == "add" else "not_in_group"
    return PARTICIPANT_ERRORS.get(code, f"error_{code}")


def join_requests(requests: Iterable[Any]) -> list[JoinRequest]:
    out = []
    for request in requests:
        jid = request.Participant
        phone = str(jid.User) if str(jid.Server) == PHONE_SERVER else None
        out.append(
            JoinRequest(jid=jid_string(jid), phone=phone, requested_at=_time(int(request.TimeAt)))
        )
    return out


def invite_code(link: str) -> str:
    """The code of an invite link (whatsmeow answers the whole URL)."""
    return link.rstrip("/").rsplit("/", 1)[-1]


# --- events --------------------------------------------------------------------------------


async def _person(jid: Any, resolve: Resolve) -> str:
    """A JID of a group event as a phone-number JID where the LID store knows it."""
    if is_lid(jid):
        resolved = await resolve(jid)
        if resolved is not None and not is_empty(resolved):
            return jid_string(resolved)
    return jid_string(jid)


def _changes(event: Any) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if event.HasField("Name"):
        changes["subject"] = str(event.Name.Name)
    if event.HasField("Topic"):
        topic = event.Topic
        changes["description"] = None if topic.TopicDeleted or not topic.Topic else str(topic.Topic)
    if event.HasField("Announce"):
        changes["announce"] = bool(event.Announce.IsAnnounce)
    if event.HasField("Locked"):
        changes["locked"] = bool(event.Locked.isLocked)
    if event.HasField("Ephemeral"):
        ephemeral = event.Ephemeral
        changes["ephemeral_s"] = int(ephemeral.DisappearingTimer) if ephemeral.IsEphemeral else 0
    if event.NewInviteLink:
        changes["invite"] = "reset"
    return changes


async def group_info_event(event: Any, resolve: Resolve) -> list[EngineEvent]:
    """A `GroupInfoEv` as a GroupUpdate (settings changed) and one GroupParticipantsUpdate per
    kind of membership change, in that order."""
    group = jid_string(event.JID)
    actor = await _person(event.Sender, resolve) if _present(event.Sender) else None
    when = to_datetime(int(event.Timestamp))
    out: list[EngineEvent] = []
    changes = _changes(event)
    if changes:
        out.append(GroupUpdate(group=group, actor=actor, changes=changes, timestamp=when))
    lists = (
        (_join_action(event), event.Join),
        (_leave_action(event), event.Leave),
        ("promoted", event.Promote),
        ("demoted", event.Demote),
    )
    for action, jids in lists:
        if jids:
            people = [await _person(jid, resolve) for jid in jids]
            out.append(
                GroupParticipantsUpdate(
                    group=group, actor=actor, action=action, participants=people, timestamp=when
                )
            )
    if actor is not None and any(node.Tag == JOIN_REQUEST_TAG for node in event.UnknownChanges):
        # whatsmeow 0.5.2 leaves this change unparsed; its sender is the one asking to join.
        out.append(GroupParticipantsUpdate(group, actor, "join_requested", [actor], when))
    return out


def _by_themselves(event: Any, people: Iterable[Any]) -> bool:
    """Whether the sender is among `people` (compared as delivered, LID to LID), or unknown."""
    if not _present(event.Sender):
        return True
    sender = jid_string(event.Sender)
    return any(jid_string(person) == sender for person in people)


def _join_action(event: Any) -> str:
    # A join by link or by an approved request carries a reason; an admin's add does not.
    return "joined" if event.JoinReason or _by_themselves(event, event.Join) else "added"


def _leave_action(event: Any) -> str:
    return "left" if _by_themselves(event, event.Leave) else "removed"


async def joined_group(event: Any, me: str | None, resolve: Resolve) -> EngineEvent | None:
    """A `JoinedGroupEv` (this account was added, created the group, or joined by link) as the
    account's own GroupParticipantsUpdate."""
    if me is None:
        return None
    sender = event.SenderPN if _present(event.SenderPN) else event.Sender
    actor = await _person(sender, resolve) if _present(sender) else None
    info = event.GroupInfo
    if not _present(info.JID):
        return None
    joined = event.Reason == "invite" or actor is None or actor == me
    created = _time(float(info.GroupCreated)) if event.Type == "new" else None
    return GroupParticipantsUpdate(
        group=jid_string(info.JID),
        actor=actor,
        action="joined" if joined else "added",
        participants=[me],
        timestamp=created or datetime.now(UTC),
    )


async def picture(event: Any, resolve: Resolve) -> EngineEvent | None:
    """A `PictureEv` of a group as a GroupUpdate; a contact's picture is not a group event."""
    if str(event.JID.Server) != "g.us":
        return None
    actor = await _person(event.Author, resolve) if _present(event.Author) else None
    return GroupUpdate(
        group=jid_string(event.JID),
        actor=actor,
        changes={"picture": "removed" if event.Remove else "set"},
        timestamp=to_datetime(int(event.Timestamp)),
    )
