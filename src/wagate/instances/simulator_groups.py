"""The simulator's group controls (docs/api.md "The simulator engine"): a test plays the other
participants of the instance's groups. 404 for other engines.

Each control acts as one participant (`by`, the group's creator unless given) under
WhatsApp's rules, as the instance's own group routes do: a participant who is not an admin
cannot add anyone here either.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Protocol

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from wagate.auth.dependencies import InstancePrincipal
from wagate.db import utcnow
from wagate.engines.actions.groups import (
    CreateGroupRequest,
    ParticipantAction,
    ParticipantsRequest,
    UpdateGroupRequest,
)
from wagate.engines.base import InboundMessage
from wagate.engines.simulator.engine import SimulatorEngine
from wagate.engines.simulator.groups import deliver, notify
from wagate.engines.simulator.network import new_message_id, random_phone
from wagate.errors import InstanceNotConnected, ValidationFailed, error_responses
from wagate.groups.routes import group_jid, group_out, invite_code, participant_jids, result_out
from wagate.groups.schemas import (
    MAX_DESCRIPTION,
    MAX_PARTICIPANTS,
    MAX_SUBJECT,
    EphemeralTimer,
    GroupOut,
    JoinedOut,
    Participant,
    ResultsOut,
)
from wagate.holder import on_holder
from wagate.instances.simulator_routes import InboundOut, _client, _simulator
from wagate.node import HasDb, HasManager, get_node
from wagate.phones import InvalidRecipient, to_jid


class SimulatorGroupsNode(HasDb, HasManager, Protocol):
    """What the group controls use of the node: the instance's row and client, the engine."""


State = Annotated[SimulatorGroupsNode, Depends(get_node)]
router = APIRouter(
    prefix="/v1/instances/{instance}/simulator/groups",
    tags=["simulator"],
    responses=error_responses(403, 404, 409),
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


By = Field(None, max_length=128, description="the participant who acts (default: the creator)")


class SimGroupIn(Strict):
    subject: str = Field(min_length=1, max_length=MAX_SUBJECT)
    creator: str | None = Field(
        None, max_length=128, description="who creates it (default: a new number)"
    )
    members: list[Participant] = Field(default_factory=list, max_length=MAX_PARTICIPANTS)
    description: str | None = Field(None, max_length=MAX_DESCRIPTION)
    role: Literal["member", "admin"] = Field("member", description="the instance's role")


class SimParticipantsIn(Strict):
    by: str | None = By
    action: ParticipantAction
    participants: list[Participant] = Field(min_length=1, max_length=MAX_PARTICIPANTS)


class SimUpdateIn(Strict):
    by: str | None = By
    subject: str | None = Field(None, min_length=1, max_length=MAX_SUBJECT)
    description: str | None = Field(None, max_length=MAX_DESCRIPTION)
    announce: bool | None = None
    locked: bool | None = None
    join_approval: bool | None = None
    ephemeral_s: EphemeralTimer | None = None


class SimMessageIn(Strict):
    from_: str = Field(alias="from", min_length=1, max_length=128)
    text: str = Field(min_length=1, max_length=65536)
    mentions: list[Participant] = Field(default_factory=list, max_length=MAX_PARTICIPANTS)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SimJoinIn(Strict):
    from_: str = Field(alias="from", min_length=1, max_length=128)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _jid(value: str, field: str) -> str:
    try:
        return to_jid(value)
    except InvalidRecipient as exc:
        raise ValidationFailed.field(field, str(exc)) from exc


async def _network(state: SimulatorGroupsNode, instance: str) -> tuple[SimulatorEngine, str]:
    """The engine and the instance's own JID (the instance must be connected)."""
    _row, engine = await _simulator(state, instance)
    client = _client(state, instance)
    if client is None or not client.connected or client.jid is None:
        raise InstanceNotConnected("the instance is not connected")
    return engine, client.jid


async def _actor(engine: SimulatorEngine, group: str, by: str | None) -> str:
    if by is not None:
        return _jid(by, "by")
    info = await engine.groups.get(None, group)
    return info.owner or ""


@router.post("", status_code=201, response_model=GroupOut)
@on_holder
async def simulate_group(
    instance: str, body: SimGroupIn, state: State, _: InstancePrincipal
) -> dict[str, Any]:
    engine, me = await _network(state, instance)
    creator = _jid(body.creator, "creator") if body.creator else f"{random_phone()}@s.whatsapp.net"
    members = [*participant_jids(body.members, "members"), me]
    request = CreateGroupRequest(body.subject, members, body.description)
    created, notices = await engine.groups.create(creator, request)
    await notify(engine, notices)
    if body.role == "admin":
        promote = ParticipantsRequest(created.group.jid, "promote", [me])
        _results, notices = await engine.groups.participants(creator, promote)
        await notify(engine, notices)
    return group_out(await engine.groups.get(None, created.group.jid))


@router.post("/{group}/participants", response_model=ResultsOut)
@on_holder
async def simulate_participants(
    instance: str, group: str, body: SimParticipantsIn, state: State, _: InstancePrincipal
) -> ResultsOut:
    engine, _me = await _network(state, instance)
    jid = group_jid(group)
    actor = await _actor(engine, jid, body.by)
    request = ParticipantsRequest(jid, body.action, participant_jids(body.participants))
    results, notices = await engine.groups.participants(actor, request)
    await notify(engine, notices)
    return ResultsOut(results=[result_out(r) for r in results])


@router.patch("/{group}", response_model=GroupOut)
@on_holder
async def simulate_group_change(
    instance: str, group: str, body: SimUpdateIn, state: State, _: InstancePrincipal
) -> dict[str, Any]:
    engine, _me = await _network(state, instance)
    jid = group_jid(group)
    actor = await _actor(engine, jid, body.by)
    fields = body.model_dump(exclude_unset=True, exclude={"by"})
    info, notices = await engine.groups.update(actor, UpdateGroupRequest(group=jid, **fields))
    await notify(engine, notices)
    return group_out(info)


@router.post("/{group}/messages", response_model=InboundOut)
@on_holder
async def simulate_group_message(
    instance: str, group: str, body: SimMessageIn, state: State, _: InstancePrincipal
) -> InboundOut:
    """A participant posts a text into the group: every instance in it receives it."""
    engine, _me = await _network(state, instance)
    jid = group_jid(group)
    sender = _jid(body.from_, "from")
    mentions = tuple(participant_jids(body.mentions, "mentions"))
    recipients = await engine.groups.check_send(sender, jid)
    message = InboundMessage(
        message_id=new_message_id(),
        chat=jid,
        sender=sender,
        from_me=False,
        timestamp=utcnow(),
        kind="text",
        text=body.text,
        mentions=mentions,
    )
    await deliver(engine, recipients, message)
    return InboundOut(message_id=message.message_id)


@router.post("/invites/{code}/join", response_model=JoinedOut)
@on_holder
async def simulate_join_by_link(
    instance: str, code: str, body: SimJoinIn, state: State, _: InstancePrincipal
) -> JoinedOut:
    """Someone follows the group's invite link (with join approval: asks to join)."""
    engine, _me = await _network(state, instance)
    ref, notices = await engine.groups.join(_jid(body.from_, "from"), invite_code(code))
    await notify(engine, notices)
    return JoinedOut(group=ref.group)
