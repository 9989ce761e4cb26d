"""The simulated network's groups: kept in the database, shared by every simulator instance.

WhatsApp's rules, as a phone sees them: only admins change the settings, and the subject,
description and picture too while the group is `locked`; only admins add, remove, promote and
demote; only admins send while it is `announce`; nobody but the creator (superadmin) removes
or demotes the creator; a group one has left is gone for them (`group_not_found`). Numbers
ending in 0000 are not on WhatsApp; numbers ending in 9999 refuse being added (they get an
invite instead). Every change is told to every connected simulator instance in the group (and
to those it removes), as WhatsApp notifies every member.

The state is shared through the database; the notifications reach the instances connected to
this node at once, and those connected to another node of a cluster through its group notices
(relay.py).
"""

from __future__ import annotations

import hashlib
import secrets
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from wagate.db import utcnow
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
    GroupParticipant,
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
from wagate.engines.base import (
    GroupParticipantsUpdate,
    GroupUpdate,
    NotConnectedError,
    PermanentEngineError,
)
from wagate.engines.simulator.network import on_whatsapp, refuses_adding
from wagate.engines.simulator.relay import GroupEvent
from wagate.engines.simulator.repository import groups as repository
from wagate.models import SimulatorGroup, SimulatorGroupMember
from wagate.phones import phone_of
from wagate.repository import rows

if TYPE_CHECKING:
    from wagate.db import Database
    from wagate.engines.simulator.engine import SimulatorClient, SimulatorEngine

ADMINS = ("admin", "superadmin")
INVITE_URL = "https://chat.whatsapp.com/"
# The settings only an admin changes, locked or not; the rest of the info follows `locked`.
ADMIN_SETTINGS = ("announce", "locked", "join_approval")
INFO_FIELDS = ("subject", "description", "ephemeral_s")
# What a participants action is called in the event it makes.
PAST = {"add": "added", "remove": "removed", "promote": "promoted", "demote": "demoted"}


def not_found(group: str) -> PermanentEngineError:
    return PermanentEngineError(f"no group {group} with this account in it", "group_not_found")


def not_admin(what: str) -> PermanentEngineError:
    return PermanentEngineError(f"only the group's admins {what}", "not_group_admin")


def _new_group_jid() -> str:
    return "120363" + "".join(secrets.choice(string.digits) for _ in range(12)) + "@g.us"


def _new_invite_code() -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(22))


@dataclass
class Notice:
    """An event and who is told of it (participant JIDs)."""

    event: GroupUpdate | GroupParticipantsUpdate
    recipients: set[str]


@dataclass
class Loaded:
    group: SimulatorGroup
    members: dict[str, SimulatorGroupMember]  # in the order they joined

    def role(self, jid: str) -> str | None:
        member = self.members.get(jid)
        return None if member is None else member.role

    def is_admin(self, jid: str) -> bool:
        return self.role(jid) in ADMINS

    def info(self) -> GroupInfo:
        row = self.group
        return GroupInfo(
            jid=row.jid,
            subject=row.subject,
            description=row.description,
            owner=row.owner,
            created_at=row.created_at,
            announce=row.announce,
            locked=row.locked,
            join_approval=row.join_approval,
            ephemeral_s=row.ephemeral_s,
            participants=[
                GroupParticipant(jid=m.jid, phone=phone_of(m.jid), role=_role(m.role))
                for m in self.members.values()
            ],
        )


def _role(value: str) -> Any:
    return value if value in ("member", "admin", "superadmin") else "member"


async def _load(session: AsyncSession, group: str, member: str | None) -> Loaded:
    """The group and its participants; `group_not_found` unless `member` is one of them
    (None: anyone may look, as through an invite link)."""
    row = await repository.group(session, group)
    if row is None:
        raise not_found(group)
    loaded = Loaded(row, {m.jid: m for m in await repository.members(session, group)})
    if member is not None and member not in loaded.members:
        raise not_found(group)
    return loaded


def _participants_event(
    loaded: Loaded, actor: str | None, action: str, jids: Sequence[str]
) -> Notice:
    """Told to every member, and to those concerned (a removed participant hears of it)."""
    event = GroupParticipantsUpdate(loaded.group.jid, actor, action, list(jids), utcnow())
    return Notice(event, set(loaded.members) | set(jids))


def _update_event(loaded: Loaded, actor: str, changes: dict[str, Any]) -> Notice:
    return Notice(GroupUpdate(loaded.group.jid, actor, changes, utcnow()), set(loaded.members))


@dataclass
class Outcome:
    results: list[ParticipantResult] = field(default_factory=list)
    done: list[str] = field(default_factory=list)

    def ok(self, jid: str) -> None:
        self.results.append(ParticipantResult(jid, True))
        self.done.append(jid)

    def fail(self, jid: str, error: str, invited: bool = False) -> None:
        self.results.append(ParticipantResult(jid, False, error, invited))


class GroupNetwork:
    """The groups of the simulated network; each operation acts as one participant (`actor`)
    and returns what it tells whom."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(
        self, actor: str, request: CreateGroupRequest
    ) -> tuple[CreatedGroup, list[Notice]]:
        now = utcnow()
        row = SimulatorGroup(
            jid=_new_group_jid(),
            subject=request.subject,
            description=request.description,
            owner=actor,
            created_at=now,
            announce=False,
            locked=False,
            join_approval=False,
            ephemeral_s=0,
            invite_code=_new_invite_code(),
        )
        outcome = Outcome()
        members = {actor: "superadmin"}
        for jid in dict.fromkeys(request.participants):
            if jid != actor and self._addable(jid, outcome):
                members[jid] = "member"
                outcome.done.append(jid)
        async with self.db.transaction() as session:
            await repository.add_group(session, row, members)
            loaded = await _load(session, row.jid, actor)
        notices = (
            [_participants_event(loaded, actor, "added", outcome.done)] if outcome.done else []
        )
        return CreatedGroup(loaded.info(), outcome.results), notices

    @staticmethod
    def _addable(jid: str, outcome: Outcome) -> bool:
        user = jid.partition("@")[0]
        if jid.endswith("@s.whatsapp.net") and not on_whatsapp(user):
            outcome.fail(jid, "not_on_whatsapp")
            return False
        if refuses_adding(user):
            outcome.fail(jid, "privacy", invited=True)
            return False
        return True

    async def groups_of(self, member: str) -> list[GroupInfo]:
        async with self.db.session() as session:
            jids = await repository.groups_of(session, member)
            return [(await _load(session, jid, member)).info() for jid in jids]

    async def get(self, member: str | None, group: str) -> GroupInfo:
        async with self.db.session() as session:
            return (await _load(session, group, member)).info()

    async def update(
        self, actor: str, request: UpdateGroupRequest
    ) -> tuple[GroupInfo, list[Notice]]:
        async with self.db.transaction() as session:
            loaded = await _load(session, request.group, actor)
            changes = self._changes(loaded, request)
            if changes and not loaded.is_admin(actor):
                if any(name in ADMIN_SETTINGS for name in changes):
                    raise not_admin("change the group's settings")
                if loaded.group.locked:
                    raise not_admin("edit the info of this group")
            await rows.set_columns(session, loaded.group, **changes)
        notices = [_update_event(loaded, actor, changes)] if changes else []
        return loaded.info(), notices

    @staticmethod
    def _changes(loaded: Loaded, request: UpdateGroupRequest) -> dict[str, Any]:
        changes: dict[str, Any] = {}
        for name in (*INFO_FIELDS, *ADMIN_SETTINGS):
            value = getattr(request, name)
            if value is None:
                continue  # left as it is
            if name == "description" and value == "":
                value = None  # an empty description removes it
            if value != getattr(loaded.group, name):
                changes[name] = value
        return changes

    async def set_picture(self, actor: str, request: GroupPictureRequest) -> list[Notice]:
        digest = None if request.data is None else hashlib.sha256(request.data).hexdigest()
        async with self.db.transaction() as session:
            loaded = await _load(session, request.group, actor)
            if loaded.group.locked and not loaded.is_admin(actor):
                raise not_admin("change the picture of this group")
            if digest == loaded.group.picture:
                return []
            await rows.set_columns(session, loaded.group, picture=digest)
        change = "removed" if digest is None else "set"
        return [_update_event(loaded, actor, {"picture": change})]

    async def participants(
        self, actor: str, request: ParticipantsRequest
    ) -> tuple[list[ParticipantResult], list[Notice]]:
        async with self.db.transaction() as session:
            loaded = await _load(session, request.group, actor)
            if not loaded.is_admin(actor):
                raise not_admin(f"{request.action} participants")
            outcome = Outcome()
            for jid in dict.fromkeys(request.participants):
                await self._one(session, loaded, actor, request.action, jid, outcome)
            # Told before the removed leave `members`: they hear of their removal too.
            notices = []
            if outcome.done:
                done = PAST[request.action]
                notices.append(_participants_event(loaded, actor, done, outcome.done))
            if request.action == "remove":
                for jid in outcome.done:
                    del loaded.members[jid]
        return outcome.results, notices

    async def _one(
        self,
        session: AsyncSession,
        loaded: Loaded,
        actor: str,
        action: str,
        jid: str,
        outcome: Outcome,
    ) -> None:
        member = loaded.members.get(jid)
        if action == "add":
            if member is not None:
                outcome.fail(jid, "already_in_group")
            elif self._addable(jid, outcome):
                added = await repository.add_member(session, loaded.group.jid, jid)
                await repository.drop_request(session, loaded.group.jid, jid)
                loaded.members[jid] = added
                outcome.ok(jid)
            return
        if member is None:
            outcome.fail(jid, "not_in_group")
        elif member.role == "superadmin" and jid != actor and action in ("remove", "demote"):
            outcome.fail(jid, "not_allowed")  # only the creator steps down
        elif action == "remove":
            await repository.remove_member(session, member)
            outcome.ok(jid)
        else:
            role = "admin" if action == "promote" else "member"
            await rows.set_columns(session, member, role=role)
            outcome.ok(jid)

    async def requests(self, actor: str, group: str) -> list[JoinRequest]:
        async with self.db.session() as session:
            loaded = await _load(session, group, actor)
            if not loaded.is_admin(actor):
                raise not_admin("see the requests to join")
            return [
                JoinRequest(jid=r.jid, phone=phone_of(r.jid), requested_at=r.requested_at)
                for r in await repository.requests(session, group)
            ]

    async def answer(
        self, actor: str, request: AnswerRequestsRequest
    ) -> tuple[list[ParticipantResult], list[Notice]]:
        async with self.db.transaction() as session:
            loaded = await _load(session, request.group, actor)
            if not loaded.is_admin(actor):
                raise not_admin("answer requests to join")
            outcome = Outcome()
            for jid in dict.fromkeys(request.participants):
                if not await repository.take_request(session, request.group, jid):
                    outcome.fail(jid, "no_request")
                    continue
                if request.action == "approve":
                    added = await repository.add_member(session, request.group, jid)
                    loaded.members[jid] = added
                outcome.ok(jid)
        notices = []
        if outcome.done and request.action == "approve":
            notices.append(_participants_event(loaded, actor, "joined", outcome.done))
        return outcome.results, notices

    async def invite(self, actor: str, request: InviteRequest) -> tuple[InviteLink, list[Notice]]:
        async with self.db.transaction() as session:
            loaded = await _load(session, request.group, actor)
            if not loaded.is_admin(actor):
                raise not_admin("share the invite link")
            if request.reset:
                await rows.set_columns(session, loaded.group, invite_code=_new_invite_code())
            code = loaded.group.invite_code
        notices = [_update_event(loaded, actor, {"invite": "reset"})] if request.reset else []
        return InviteLink(code, INVITE_URL + code), notices

    async def _by_code(self, session: AsyncSession, code: str) -> Loaded:
        jid = await repository.by_invite_code(session, code)
        if jid is None:
            raise PermanentEngineError("no group has this invite code", "invite_not_found")
        return await _load(session, jid, None)

    async def invite_info(self, code: str) -> GroupInfo:
        async with self.db.session() as session:
            return (await self._by_code(session, code)).info()

    async def join(self, actor: str, code: str) -> tuple[GroupRef, list[Notice]]:
        async with self.db.transaction() as session:
            loaded = await self._by_code(session, code)
            group = loaded.group.jid
            if actor in loaded.members:
                return GroupRef(group), []
            if loaded.group.join_approval:
                if await repository.has_request(session, group, actor):
                    return GroupRef(group), []
                await repository.add_request(session, group, actor)
                admins = {jid for jid in loaded.members if loaded.is_admin(jid)}
                event = GroupParticipantsUpdate(group, actor, "join_requested", [actor], utcnow())
                return GroupRef(group), [Notice(event, admins | {actor})]
            loaded.members[actor] = await repository.add_member(session, group, actor)
        return GroupRef(group), [_participants_event(loaded, actor, "joined", [actor])]

    async def leave(self, actor: str, group: str) -> list[Notice]:
        async with self.db.transaction() as session:
            loaded = await _load(session, group, actor)
            notices = [_participants_event(loaded, actor, "left", [actor])]
            await repository.remove_member(session, loaded.members.pop(actor))
            if loaded.members and not any(loaded.is_admin(j) for j in loaded.members):
                # WhatsApp names a new admin when the last one leaves: the longest member.
                heir = next(iter(loaded.members.values()))
                await rows.set_columns(session, heir, role="admin")
                notices.append(_participants_event(loaded, None, "promoted", [heir.jid]))
            if not loaded.members:
                await repository.delete_group(session, loaded.group)
        return notices

    async def check_send(self, sender: str, group: str, *, strict: bool = True) -> set[str]:
        """Who receives a message `sender` sends to the group (the other participants);
        `not_group_admin` when only admins send, `group_not_found` when not in it. Not
        `strict`: a group the simulated network has never seen takes the message and tells no
        one (sends to any group JID worked before groups were modelled, and still do)."""
        async with self.db.session() as session:
            if not strict and await repository.group(session, group) is None:
                return set()
            loaded = await _load(session, group, sender)
        if loaded.group.announce and not loaded.is_admin(sender):
            raise not_admin("send messages to this group")
        return set(loaded.members) - {sender}


async def deliver(engine: SimulatorEngine, recipients: set[str], event: GroupEvent) -> None:
    """Hand an event to every simulator instance connected as one of `recipients`: here at
    once, on the other nodes of a cluster through the relay."""
    for client in list(engine.clients.values()):
        if client.connected and client.jid in recipients:
            client.sink(event)
    if engine.relay is not None:
        await engine.relay.forward(recipients, event)


async def notify(engine: SimulatorEngine, notices: Iterable[Notice]) -> None:
    for notice in notices:
        await deliver(engine, notice.recipients, notice.event)


class ClientGroups:
    """The group actions of one simulator client: the network, acting as its account."""

    def __init__(self, client: SimulatorClient) -> None:
        self.client = client
        self.network = client.engine.groups

    def _me(self) -> str:
        if not self.client.connected or self.client.jid is None:
            raise NotConnectedError("the simulated connection is not open")
        return self.client.jid

    async def _tell(self, notices: list[Notice]) -> None:
        await notify(self.client.engine, notices)

    async def create(self, request: CreateGroupRequest) -> CreatedGroup:
        created, notices = await self.network.create(self._me(), request)
        await self._tell(notices)
        return created

    async def list_groups(self, _: None) -> list[GroupInfo]:
        return await self.network.groups_of(self._me())

    async def get(self, request: GroupRef) -> GroupInfo:
        return await self.network.get(self._me(), request.group)

    async def update(self, request: UpdateGroupRequest) -> GroupInfo:
        info, notices = await self.network.update(self._me(), request)
        await self._tell(notices)
        return info

    async def picture(self, request: GroupPictureRequest) -> None:
        await self._tell(await self.network.set_picture(self._me(), request))

    async def participants(self, request: ParticipantsRequest) -> list[ParticipantResult]:
        results, notices = await self.network.participants(self._me(), request)
        await self._tell(notices)
        return results

    async def requests(self, request: GroupRef) -> list[JoinRequest]:
        return await self.network.requests(self._me(), request.group)

    async def answer(self, request: AnswerRequestsRequest) -> list[ParticipantResult]:
        results, notices = await self.network.answer(self._me(), request)
        await self._tell(notices)
        return results

    async def invite(self, request: InviteRequest) -> InviteLink:
        link, notices = await self.network.invite(self._me(), request)
        await self._tell(notices)
        return link

    async def invite_info(self, request: InviteCode) -> GroupInfo:
        self._me()
        return await self.network.invite_info(request.code)

    async def join(self, request: InviteCode) -> GroupRef:
        ref, notices = await self.network.join(self._me(), request.code)
        await self._tell(notices)
        return ref

    async def leave(self, request: GroupRef) -> None:
        await self._tell(await self.network.leave(self._me(), request.group))


def groups_handlers(client: SimulatorClient) -> list[tuple[str, Handler]]:
    groups = ClientGroups(client)
    return [
        handle(CREATE_GROUP, groups.create),
        handle(LIST_GROUPS, groups.list_groups),
        handle(GET_GROUP, groups.get),
        handle(UPDATE_GROUP, groups.update),
        handle(SET_GROUP_PICTURE, groups.picture),
        handle(UPDATE_PARTICIPANTS, groups.participants),
        handle(GROUP_REQUESTS, groups.requests),
        handle(ANSWER_REQUESTS, groups.answer),
        handle(GROUP_INVITE, groups.invite),
        handle(INVITE_INFO, groups.invite_info),
        handle(JOIN_BY_INVITE, groups.join),
        handle(LEAVE_GROUP, groups.leave),
    ]
