"""GET /v1/sinks (admin): the event bus's sinks, with the backlog of the durable ones."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from wagate.auth.dependencies import AdminPrincipal
from wagate.errors import error_responses
from wagate.node import get_node
from wagate.sinks import service
from wagate.sinks.schemas import SinkList
from wagate.sinks.service import SinksNode

State = Annotated[SinksNode, Depends(get_node)]
router = APIRouter(prefix="/v1/sinks", tags=["sinks"])


@router.get("", response_model=SinkList, responses=error_responses(401, 403))
async def list_sinks(state: State, _: AdminPrincipal) -> SinkList:
    return await service.describe(state)
