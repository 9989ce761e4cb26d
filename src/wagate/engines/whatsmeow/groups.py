"""The group actions on a linked session: neonize 0.5.2's group calls, each bounded.

WhatsApp answers a group query it refuses with an IQ error whose text whatsmeow passes on
("info query returned status 401: not-authorized", or its own words for the common ones:
"you're not participating in that group"); `group_failure` sorts those into the declared
failure codes. What neonize 0.5.2 cannot do (the join-approval setting, answering join
requests, removing the picture: its binding turns "no picture" into an empty one) is refused
as `not_supported` before anything is changed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from functools import partial
from typing import Any, Protocol, TypeVar

from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import GroupInviteMessage, Message
from neonize.utils.enum import ParticipantChange

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
    CreatedGroup,
    CreateGroupRequest,
    GroupInfo,
    GroupPictureRequest,
    GroupRef,
    InviteCode,
    InviteLink,
    InviteRequest,
    JoinRequest,
    ParticipantResult,
    ParticipantsRequest,
    UpdateGroupRequest,
)
from wagate.engines.actions.spec import Handler, handle
from wagate.engines.base import EngineFailure, PermanentEngineError
from wagate.engines.whatsmeow import group_mapping
from wagate.engines.whatsmeow.group_mapping import INVITE_PREFIX, Refusal
from wagate.engines.whatsmeow.jids import jid_string, parse_jid, phone_jid
from wagate.engines.whatsmeow.session import Session

T = TypeVar("T")
log = logging.getLogger("wagate.whatsmeow.groups")
NS_PER_S = 1_000_000_000  # neonize passes an int timer to Go as a time.Duration

# Markers in whatsmeow's error texts, checked in order; the first that matches decides.
GROUP_ERRORS = (
    ("you're not participating in that group", "group_not_found"),
    ("that group does not exist", "group_not_found"),
    ("permission to get the group's invite link", "not_group_admin"),
    ("status 401", "not_group_admin"),
    ("status 403", "not_group_admin"),
    ("status 404", "group_not_found"),
)
INVITE_ERRORS = (
    ("invite link is not valid", "invite_not_found"),
    ("invite link has been revoked", "invite_not_found"),
    ("status 404", "invite_not_found"),
    ("status 406", "invite_not_found"),
    ("status 410", "invite_not_found"),
)
# A value WhatsApp refuses (too long a subject, a timer it does not offer, not an image):
# permanent, retrying gives the same answer.
REFUSED_VALUES = (
    "status 400",
    "invalid disappearing timer provided",
    "the given data is not a valid image",
)


class Bounded(Protocol):
    def __call__(self, call: Awaitable[T], what: str, limit_s: float | None = None) -> Awaitable[T]:
        """One neonize call, behind the host's gate and bounded (Actions.bounded)."""
        ...


def group_failure(exc: EngineFailure, markers: tuple[tuple[str, str], ...]) -> EngineFailure:
    """A failed group call as its declared failure where WhatsApp's answer says which."""
    if exc.code != "engine_error":
        return exc  # not connected, or already sorted
    text = str(exc).lower()
    for marker, code in markers:
        if marker in text:
            return PermanentEngineError(str(exc), code=code)
    if any(marker in text for marker in REFUSED_VALUES):
        return PermanentEngineError(str(exc))
    return exc


def unsupported(what: str) -> PermanentEngineError:
    return PermanentEngineError(
        f"{what} is not offered by the whatsmeow engine (neonize has no call for it)",
        code="not_supported",
    )


class GroupActions:
    def __init__(self, session: Session, bounded: Bounded) -> None:
        self.session = session
        self._bounded = bounded

    def handlers(self) -> list[tuple[str, Handler]]:
        return [
            handle(CREATE_GROUP, self.create),
            handle(LIST_GROUPS, self.list_groups),
            handle(GET_GROUP, self.get),
            handle(UPDATE_GROUP, self.update),
            handle(SET_GROUP_PICTURE, self.picture),
            handle(UPDATE_PARTICIPANTS, self.participants),
            handle(GROUP_REQUESTS, self.requests),
            handle(ANSWER_REQUESTS, self.answer_requests),
            handle(GROUP_INVITE, self.invite),
            handle(INVITE_INFO, self.invite_info),
            handle(JOIN_BY_INVITE, self.join),
            handle(LEAVE_GROUP, self.leave),
        ]

    async def _call(
        self, call: Awaitable[T], what: str, markers: tuple[tuple[str, str], ...] = GROUP_ERRORS
    ) -> T:
        try:
            return await self._bounded(call, what)
        except EngineFailure as exc:
            raise group_failure(exc, markers) from exc

    async def _info(self, client: Any, group: str) -> GroupInfo:
        info = await self._call(client.get_group_info(parse_jid(group)), "group info")
        return group_mapping.group_info(info)

    async def create(self, request: CreateGroupRequest) -> CreatedGroup:
        client = self.session.require_connected()
        people = [parse_jid(phone_jid(p)) for p in request.participants]
        created = await self._call(client.create_group(request.subject, people), "create group")
        group = group_mapping.group_info(created)
        _, refusals = group_mapping.participant_results(created.Participants, "add")
        if request.description:
            try:
                await self._call(
                    client.set_group_topic(created.JID, "", "", request.description),
                    "group description",
                )
                group = replace(group, description=request.description)
            except EngineFailure as exc:
                # The group exists: failing the create now would have a retry make a second
                # one. The answer shows it without a description; it can be set again.
                log.warning("the new group's description was not set: %s", exc)
        failed = await self._invite_refused(client, group.jid, group.subject, refusals)
        return CreatedGroup(group=group, failed=failed)

    async def list_groups(self, _: None) -> list[GroupInfo]:
        client = self.session.require_connected()
        groups = await self._call(client.get_joined_groups(), "joined groups")
        return [group_mapping.group_info(info) for info in groups]

    async def get(self, request: GroupRef) -> GroupInfo:
        return await self._info(self.session.require_connected(), request.group)

    async def update(self, request: UpdateGroupRequest) -> GroupInfo:
        client = self.session.require_connected()
        if request.join_approval is not None:
            raise unsupported("the join approval setting")
        jid = parse_jid(request.group)
        # One call per field asked for, in this order; the first refusal stops the rest.
        calls: list[tuple[Callable[[], Awaitable[Any]], str]] = []
        if request.subject is not None:
            calls.append((partial(client.set_group_name, jid, request.subject), "group subject"))
        if request.description is not None:
            topic = partial(client.set_group_topic, jid, "", "", request.description)
            calls.append((topic, "group description"))
        if request.announce is not None:
            announce = partial(client.set_group_announce, jid, request.announce)
            calls.append((announce, "group announce"))
        if request.locked is not None:
            calls.append((partial(client.set_group_locked, jid, request.locked), "group locked"))
        if request.ephemeral_s is not None:
            timer = partial(client.set_disappearing_timer, jid, request.ephemeral_s * NS_PER_S)
            calls.append((timer, "disappearing messages"))
        for call, what in calls:
            await self._call(call(), what)
        return await self._info(client, request.group)

    async def picture(self, request: GroupPictureRequest) -> None:
        client = self.session.require_connected()
        if request.data is None:
            raise unsupported("removing a group's picture")
        jid = parse_jid(request.group)
        await self._call(client.set_group_photo(jid, request.data), "group picture")

    async def participants(self, request: ParticipantsRequest) -> list[ParticipantResult]:
        client = self.session.require_connected()
        people = [parse_jid(phone_jid(p)) for p in request.participants]
        changed = await self._call(
            client.update_group_participants(
                parse_jid(request.group), people, ParticipantChange(request.action)
            ),
            f"group participants ({request.action})",
        )
        results, refusals = group_mapping.participant_results(changed, request.action)
        if request.action == "add" and any(r.invite_code for r in refusals):
            try:
                subject = (await self._info(client, request.group)).subject
            except EngineFailure:
                subject = ""  # the adds are done: an invite without the group's name still works
            sent = await self._invite_refused(client, request.group, subject, refusals)
            by_jid = {r.jid: r for r in sent}
            results = [by_jid.get(r.jid, r) for r in results]
        return results

    async def _invite_refused(
        self, client: Any, group: str, subject: str, refusals: list[Refusal]
    ) -> list[ParticipantResult]:
        """Send the invite WhatsApp offers for each participant whose privacy settings refused
        the add (as the phone app does); the refusals, with `invited` set where one went."""
        out = []
        for refusal in refusals:
            result = refusal.result
            if refusal.invite_code:
                invite = GroupInviteMessage(
                    groupJID=group,
                    inviteCode=refusal.invite_code,
                    inviteExpiration=refusal.invite_expires,
                    groupName=subject,
                )
                try:
                    await self._call(
                        client.send_message(refusal.to, Message(groupInviteMessage=invite)),
                        "group invite message",
                    )
                    result = replace(result, invited=True)
                except EngineFailure:
                    pass  # the add's answer stands: refused, not invited
            out.append(result)
        return out

    async def requests(self, request: GroupRef) -> list[JoinRequest]:
        client = self.session.require_connected()
        pending = await self._call(
            client.get_group_request_participants(parse_jid(request.group)), "join requests"
        )
        return group_mapping.join_requests(pending)

    async def answer_requests(self, request: AnswerRequestsRequest) -> list[ParticipantResult]:
        self.session.require_connected()
        raise unsupported("answering join requests")

    async def invite(self, request: InviteRequest) -> InviteLink:
        client = self.session.require_connected()
        link = await self._call(
            client.get_group_invite_link(parse_jid(request.group), request.reset), "invite link"
        )
        code = group_mapping.invite_code(str(link))
        return InviteLink(code=code, url=f"{INVITE_PREFIX}{code}")

    async def invite_info(self, request: InviteCode) -> GroupInfo:
        client = self.session.require_connected()
        info = await self._call(
            client.get_group_info_from_link(request.code), "invite link info", INVITE_ERRORS
        )
        return group_mapping.group_info(info)

    async def join(self, request: InviteCode) -> GroupRef:
        client = self.session.require_connected()
        jid = await self._call(
            client.join_group_with_link(request.code), "join by invite", INVITE_ERRORS
        )
        return GroupRef(group=jid_string(jid))

    async def leave(self, request: GroupRef) -> None:
        client = self.session.require_connected()
        await self._call(client.leave_group(parse_jid(request.group)), "leave group")
