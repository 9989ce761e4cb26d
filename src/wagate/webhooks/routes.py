"""Webhook routes (API.md "Webhooks")."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from wagate.auth.dependencies import InstancePrincipal
from wagate.errors import error_responses
from wagate.instances.schemas import WebhookIn, WebhookOut
from wagate.node import get_node
from wagate.webhooks import service
from wagate.webhooks.schemas import (
    DeliveryDetail,
    DeliveryList,
    DeliveryOut,
    DeliveryStatusName,
)
from wagate.webhooks.service import WebhooksNode

State = Annotated[WebhooksNode, Depends(get_node)]
router = APIRouter(prefix="/v1/instances/{instance}/webhook", tags=["webhooks"])
ERRORS = error_responses(404)


@router.put("", response_model=WebhookOut, responses=ERRORS)
async def put_webhook(
    instance: str, body: WebhookIn, state: State, _: InstancePrincipal
) -> WebhookOut:
    return await service.put_webhook(state, instance, body)


@router.get("", response_model=WebhookOut, responses=ERRORS)
async def get_webhook(instance: str, state: State, _: InstancePrincipal) -> WebhookOut:
    return await service.get_webhook(state, instance)


@router.delete("", status_code=204, responses=ERRORS)
async def delete_webhook(instance: str, state: State, _: InstancePrincipal) -> Response:
    await service.delete_webhook(state, instance)
    return Response(status_code=204)


@router.get("/deliveries", response_model=DeliveryList, responses=ERRORS)
async def list_deliveries(
    instance: str,
    state: State,
    principal: InstancePrincipal,
    status: DeliveryStatusName | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> DeliveryList:
    return await service.list_deliveries(
        state, instance, principal, status=status, limit=limit, cursor=cursor
    )


@router.get("/deliveries/{delivery_id}", response_model=DeliveryDetail, responses=ERRORS)
async def get_delivery(
    instance: str, delivery_id: str, state: State, principal: InstancePrincipal
) -> DeliveryDetail:
    return await service.get_delivery(state, instance, principal, delivery_id)


@router.post(
    "/deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=DeliveryOut,
    responses=error_responses(404, 409),
)
async def redeliver_delivery(
    instance: str, delivery_id: str, state: State, principal: InstancePrincipal
) -> DeliveryOut:
    return await service.redeliver(state, instance, principal, delivery_id)
