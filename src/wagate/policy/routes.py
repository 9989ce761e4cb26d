"""GET/PATCH /v1/instances/{instance}/send-policy and its resume: the policy, its counters,
what it holds and why, and when the next send may go."""

from __future__ import annotations

from typing import Annotated, Protocol

from fastapi import APIRouter, Depends

from wagate.auth.dependencies import InstancePrincipal
from wagate.errors import error_responses
from wagate.holder import on_holder
from wagate.instances import service as instances
from wagate.node import HasDb, HasSendPolicy, get_node
from wagate.policy.schemas import PolicyOut, PolicyPatch


class PolicyNode(HasDb, HasSendPolicy, Protocol):
    """What the send-policy routes use of the node."""


State = Annotated[PolicyNode, Depends(get_node)]
router = APIRouter(prefix="/v1/instances/{instance}/send-policy", tags=["send policy"])
ERRORS = error_responses(401, 403, 404)


@router.get("", response_model=PolicyOut, responses=ERRORS)
async def get_send_policy(instance: str, state: State, _: InstancePrincipal) -> PolicyOut:
    row = await instances.load(state, instance)
    return await state.send_policy.describe(row.id)


# On the holder: its sender, asleep until a release, wakes at once to the new policy.
@router.patch("", response_model=PolicyOut, responses=error_responses(401, 403, 404, 422))
@on_holder
async def patch_send_policy(
    instance: str, body: PolicyPatch, state: State, _: InstancePrincipal
) -> PolicyOut:
    row = await instances.load(state, instance)
    await state.send_policy.update(row.id, body)
    return await state.send_policy.describe(row.id)


@router.post("/resume", response_model=PolicyOut, responses=ERRORS)
@on_holder
async def resume_sending(instance: str, state: State, _: InstancePrincipal) -> PolicyOut:
    row = await instances.load(state, instance)
    await state.send_policy.resume(row.id)
    return await state.send_policy.describe(row.id)
