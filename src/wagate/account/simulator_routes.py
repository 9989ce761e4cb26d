"""The simulator's control routes for the people around an account (404 for other engines):
a contact comes online, types, calls, or changes its name, about or picture."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Protocol

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from wagate.account.routes import jid_field
from wagate.auth.dependencies import InstancePrincipal
from wagate.engines.simulator.account import SimulatedAccount
from wagate.engines.simulator.engine import SimulatorClient
from wagate.errors import InstanceNotConnected, NotFound, ValidationFailed, error_responses
from wagate.holder import on_holder
from wagate.instances import service
from wagate.node import HasDb, HasManager, get_node


class SimulatorNode(HasDb, HasManager, Protocol):
    """The instance's row and its live simulator client."""


State = Annotated[SimulatorNode, Depends(get_node)]
router = APIRouter(
    prefix="/v1/instances/{instance}/simulator",
    tags=["simulator"],
    responses=error_responses(404, 409, 422),
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class SimulatedPresenceIn(Strict):
    from_: str = Field(alias="from", min_length=1, max_length=128)
    state: Literal["available", "unavailable", "typing", "recording", "paused"]
    chat: str | None = Field(None, max_length=128, description="the group it types in")


class SimulatedDeliveredOut(BaseModel):
    delivered: bool = Field(
        description="false when WhatsApp would not pass it on (not subscribed, or blocked)"
    )


class SimulatedCallIn(Strict):
    from_: str = Field(alias="from", min_length=1, max_length=128)
    video: bool = False


class SimulatedCallOut(BaseModel):
    call_id: str | None = Field(description="null when the caller is blocked: it never rings")


class SimulatedCallEndIn(Strict):
    status: Literal["accepted", "missed"]


class SimulatedContactIn(Strict):
    push_name: str | None = Field(None, min_length=1, max_length=25)
    about: str | None = Field(None, max_length=139)
    business_name: str | None = Field(None, min_length=1, max_length=128)
    picture: bool | None = Field(None, description="true: a new picture; false: removed")


async def _account(state: SimulatorNode, name: str) -> SimulatedAccount:
    row = await service.load(state, name)
    if row.engine != "simulator":
        raise NotFound("simulator routes exist only for instances of the simulator engine")
    client = state.manager.live_client(name)
    if not isinstance(client, SimulatorClient) or not client.connected:
        raise InstanceNotConnected("the instance is not connected")
    return client.account


def _person(value: str, field: str) -> str:
    jid = jid_field(value, field)
    if not jid.endswith(("@s.whatsapp.net", "@lid")):
        raise ValidationFailed.field(field, "give a person's number or JID")
    return jid


@router.post("/presence", response_model=SimulatedDeliveredOut)
@on_holder
async def contact_presence(
    instance: str, body: SimulatedPresenceIn, state: State, _: InstancePrincipal
) -> SimulatedDeliveredOut:
    contact = _person(body.from_, "from")
    chat = jid_field(body.chat, "chat") if body.chat else None
    if chat is not None and body.state in ("available", "unavailable"):
        raise ValidationFailed.field("chat", "online and offline are not per chat")
    account = await _account(state, instance)
    return SimulatedDeliveredOut(delivered=account.contact_presence(contact, body.state, chat))


@router.post("/calls", response_model=SimulatedCallOut)
@on_holder
async def contact_calls(
    instance: str, body: SimulatedCallIn, state: State, _: InstancePrincipal
) -> SimulatedCallOut:
    caller = _person(body.from_, "from")
    account = await _account(state, instance)
    call = account.call_offer(caller, body.video)
    return SimulatedCallOut(call_id=call.call_id if call else None)


@router.post("/calls/{call_id}", status_code=204)
@on_holder
async def call_ends(
    instance: str, call_id: str, body: SimulatedCallEndIn, state: State, _: InstancePrincipal
) -> Response:
    account = await _account(state, instance)
    if not account.call_ends(call_id, body.status):
        raise NotFound("no such call is ringing")
    return Response(status_code=204)


@router.patch("/contacts/{contact}", status_code=204)
@on_holder
async def contact_changes(
    instance: str, contact: str, body: SimulatedContactIn, state: State, _: InstancePrincipal
) -> Response:
    jid = _person(contact, "contact")
    changes: dict[str, Any] = body.model_dump(include=body.model_fields_set)
    if not changes:
        raise ValidationFailed.field("push_name", "give at least one change")
    account = await _account(state, instance)
    if not await account.contact_changes(jid, changes):
        raise ValidationFailed.field("contact", "the number is not on WhatsApp")
    return Response(status_code=204)
