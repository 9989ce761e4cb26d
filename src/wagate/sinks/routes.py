"""GET /v1/sinks (admin): the event bus's sinks, with the backlog of the durable ones; an
instance's own filter of the events a broker transport publishes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from wagate.auth.dependencies import AdminPrincipal, InstancePrincipal
from wagate.errors import error_responses
from wagate.node import get_node
from wagate.sinks import service
from wagate.sinks.schemas import SinkFilterIn, SinkFilterOut, SinkList
from wagate.sinks.service import SinksNode
from wagate.sinks.transport import SinkName

State = Annotated[SinksNode, Depends(get_node)]
router = APIRouter(prefix="/v1/sinks", tags=["sinks"])


instance_router = APIRouter(prefix="/v1/instances/{instance}/sinks", tags=["sinks"])
ERRORS = error_responses(404)


@router.get("", response_model=SinkList, responses=error_responses(401, 403))
async def list_sinks(state: State, _: AdminPrincipal) -> SinkList:
    return await service.describe(state)


@instance_router.get("/{sink}", response_model=SinkFilterOut, responses=ERRORS)
async def get_sink_filter(
    instance: str, sink: SinkName, state: State, _: InstancePrincipal
) -> SinkFilterOut:
    return await service.get_filter(state, instance, sink)


@instance_router.put("/{sink}", response_model=SinkFilterOut, responses=ERRORS)
async def put_sink_filter(
    instance: str, sink: SinkName, body: SinkFilterIn, state: State, _: InstancePrincipal
) -> SinkFilterOut:
    return await service.put_filter(state, instance, sink, body)


@instance_router.delete("/{sink}", status_code=204, responses=ERRORS)
async def delete_sink_filter(
    instance: str, sink: SinkName, state: State, _: InstancePrincipal
) -> Response:
    await service.delete_filter(state, instance, sink)
    return Response(status_code=204)
