"""Actions on groups: create, read, change, members, join requests, invites, leave.

A group is named by its JID (`…@g.us`); participants by their JIDs (`…@s.whatsapp.net`, or
`…@lid` where WhatsApp hides the number). The simulator models groups fully; the whatsmeow
engine maps each action to neonize's group calls.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from wagate.engines.actions.spec import Action, declare

Role = Literal["member", "admin", "superadmin"]
ParticipantAction = Literal["add", "remove", "promote", "demote"]
RequestAnswer = Literal["approve", "reject"]
# Failures the group actions give besides not connected / engine error (engine_failures.STATUS).
GROUP_FAILURES = ("not_group_admin", "group_not_found")


@dataclass(frozen=True, slots=True)
class GroupParticipant:
    jid: str
    phone: str | None = None  # None when WhatsApp shows only a LID
    role: Role = "member"


@dataclass(frozen=True, slots=True)
class GroupInfo:
    jid: str
    subject: str
    description: str | None = None
    owner: str | None = None
    created_at: datetime | None = None
    announce: bool = False  # only admins send
    locked: bool = False  # only admins edit the group's info
    join_approval: bool = False  # joining by link needs an admin's approval
    ephemeral_s: int = 0  # disappearing messages timer, 0: off
    participants: list[GroupParticipant] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ParticipantResult:
    """What became of one participant of a request: `ok`, or why not (`error`: a code such as
    `not_on_whatsapp`, `not_in_group`, `already_in_group`, `privacy` — then `invited` tells
    whether an invite was sent instead)."""

    jid: str
    ok: bool
    error: str | None = None
    invited: bool = False


@dataclass(frozen=True, slots=True)
class GroupRef:
    group: str


@dataclass(frozen=True, slots=True)
class CreateGroupRequest:
    subject: str
    participants: list[str]
    description: str | None = None


@dataclass(frozen=True, slots=True)
class CreatedGroup:
    group: GroupInfo
    # The participants that could not be added, with the reason.
    failed: list[ParticipantResult] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class UpdateGroupRequest:
    """The fields to change; None leaves a field as it is."""

    group: str
    subject: str | None = None
    description: str | None = None
    announce: bool | None = None
    locked: bool | None = None
    join_approval: bool | None = None
    ephemeral_s: int | None = None


@dataclass(frozen=True, slots=True)
class GroupPictureRequest:
    group: str
    data: bytes | None  # JPEG bytes; None removes the picture
    mimetype: str = "image/jpeg"


@dataclass(frozen=True, slots=True)
class ParticipantsRequest:
    group: str
    action: ParticipantAction
    participants: list[str]


@dataclass(frozen=True, slots=True)
class JoinRequest:
    jid: str
    phone: str | None = None
    requested_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class AnswerRequestsRequest:
    group: str
    action: RequestAnswer
    participants: list[str]


@dataclass(frozen=True, slots=True)
class InviteRequest:
    group: str
    reset: bool = False  # revoke the current link and make a new one


@dataclass(frozen=True, slots=True)
class InviteLink:
    code: str
    url: str


@dataclass(frozen=True, slots=True)
class InviteCode:
    code: str


CREATE_GROUP: Action[CreateGroupRequest, CreatedGroup] = declare(
    "create_group", CreateGroupRequest, CreatedGroup, "Create a group with the instance as owner."
)
LIST_GROUPS: Action[None, list[GroupInfo]] = declare(
    "list_groups", type(None), list[GroupInfo], "The groups the instance belongs to."
)
GET_GROUP: Action[GroupRef, GroupInfo] = declare(
    "get_group", GroupRef, GroupInfo, "One group, with its participants.", GROUP_FAILURES
)
UPDATE_GROUP: Action[UpdateGroupRequest, GroupInfo] = declare(
    "update_group",
    UpdateGroupRequest,
    GroupInfo,
    "Change a group's subject, description or settings.",
    GROUP_FAILURES,
)
SET_GROUP_PICTURE: Action[GroupPictureRequest, None] = declare(
    "set_group_picture",
    GroupPictureRequest,
    None,
    "Set or remove a group's picture.",
    GROUP_FAILURES,
)
UPDATE_PARTICIPANTS: Action[ParticipantsRequest, list[ParticipantResult]] = declare(
    "update_participants",
    ParticipantsRequest,
    list[ParticipantResult],
    "Add, remove, promote or demote participants.",
    GROUP_FAILURES,
)
GROUP_REQUESTS: Action[GroupRef, list[JoinRequest]] = declare(
    "group_requests", GroupRef, list[JoinRequest], "Pending requests to join.", GROUP_FAILURES
)
ANSWER_REQUESTS: Action[AnswerRequestsRequest, list[ParticipantResult]] = declare(
    "answer_requests",
    AnswerRequestsRequest,
    list[ParticipantResult],
    "Approve or reject requests to join.",
    GROUP_FAILURES,
)
GROUP_INVITE: Action[InviteRequest, InviteLink] = declare(
    "group_invite",
    InviteRequest,
    InviteLink,
    "The group's invite link, or a new one (`reset`).",
    GROUP_FAILURES,
)
INVITE_INFO: Action[InviteCode, GroupInfo] = declare(
    "invite_info", InviteCode, GroupInfo, "What an invite link leads to.", ("invite_not_found",)
)
JOIN_BY_INVITE: Action[InviteCode, GroupRef] = declare(
    "join_by_invite",
    InviteCode,
    GroupRef,
    "Join a group by its invite code.",
    ("invite_not_found",),
)
LEAVE_GROUP: Action[GroupRef, None] = declare(
    "leave_group", GroupRef, None, "Leave a group.", GROUP_FAILURES
)
