"""The simulator's control route for history sync (404 for other engines): the simulated
phone sends its history to the linked device again, as WhatsApp does after linking."""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from wagate.auth.dependencies import InstancePrincipal
from wagate.engines.simulator.engine import SimulatorClient
from wagate.engines.simulator.history import HistoryShape
from wagate.errors import InstanceNotConnected, NotFound, error_responses
from wagate.holder import on_holder
from wagate.instances import service
from wagate.node import HasDb, HasManager, HasSettings, get_node


class SimulatorHistoryNode(HasDb, HasManager, HasSettings, Protocol):
    """The instance's row, its live simulator client, the simulator's default history."""


State = Annotated[SimulatorHistoryNode, Depends(get_node)]
router = APIRouter(
    prefix="/v1/instances/{instance}/simulator",
    tags=["simulator"],
    responses=error_responses(404, 409, 422),
)


class SimulatedHistoryIn(BaseModel):
    """The history's size; a field left out takes the simulator's setting."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"example": {"chats": 3, "messages": 10, "days": 60}}
    )
    chats: int | None = Field(None, ge=1, le=1000)
    messages: int | None = Field(None, ge=1, le=10_000, description="per chat")
    days: int | None = Field(None, ge=1, le=3650, description="how old the oldest message is")


class SimulatedHistoryOut(BaseModel):
    message_ids: list[str] = Field(description="the messages sent, oldest first in each chat")


@router.post("/history", response_model=SimulatedHistoryOut)
@on_holder
async def simulate_history(
    instance: str, state: State, _: InstancePrincipal, body: SimulatedHistoryIn | None = None
) -> SimulatedHistoryOut:
    row = await service.load(state, instance)
    if row.engine != "simulator":
        raise NotFound("simulator routes exist only for instances of the simulator engine")
    client = state.manager.live_client(instance)
    if not isinstance(client, SimulatorClient) or not client.connected:
        raise InstanceNotConnected("the instance is not connected")
    body = body or SimulatedHistoryIn()
    settings = state.settings
    shape = HistoryShape(
        chats=body.chats or settings.simulator_history_chats or 3,
        messages=body.messages or settings.simulator_history_messages,
        days=body.days or settings.simulator_history_days,
    )
    return SimulatedHistoryOut(message_ids=client.send_history(shape))
