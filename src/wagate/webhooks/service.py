"""Webhook operations behind the routes: the instance's webhook, its delivery log, redelivery."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from wagate.auth.dependencies import Principal
from wagate.errors import Conflict, NotFound, ValidationFailed
from wagate.instances import repository as instances
from wagate.instances.schemas import WebhookIn, WebhookOut, webhook_out
from wagate.instances.service import check_webhook_url
from wagate.models import Instance, WebhookAttempt, WebhookDelivery
from wagate.node import HasDb, HasInstances, HasSecrets, HasSettings, HasWebhooks
from wagate.webhooks import repository
from wagate.webhooks.outbox import GLOBAL_TARGET, INSTANCE_TARGET, WEBHOOK_REMOVED, delivery_row
from wagate.webhooks.retry import DeliveryStatus
from wagate.webhooks.schemas import AttemptOut, DeliveryDetail, DeliveryList, DeliveryOut


class WebhooksNode(HasDb, HasInstances, HasSecrets, HasSettings, HasWebhooks, Protocol):
    """What the webhook operations use of the node."""


def _missing(name: str) -> NotFound:
    return NotFound(f"instance '{name}' not found")


async def _instance(state: HasDb, name: str) -> Instance:
    async with state.db.session() as session:
        row = await instances.get_by_name(session, name)
    if row is None:
        raise _missing(name)
    return row


async def get_webhook(state: WebhooksNode, name: str) -> WebhookOut:
    out = webhook_out((await _instance(state, name)).webhook)
    if out is None:
        raise NotFound(f"instance '{name}' has no webhook")
    return out


async def put_webhook(state: WebhooksNode, name: str, body: WebhookIn) -> WebhookOut:
    """Replace the webhook. `secret` left out keeps the current secret; `null` removes it.
    Deliveries still pending follow the webhook to its new URL."""
    await check_webhook_url(state.settings, str(body.url), "url")
    async with state.db.transaction() as session:
        row = await instances.get_by_name(session, name)
        if row is None:
            raise _missing(name)
        current: dict[str, Any] = row.webhook or {}
        secret = body.secret if "secret" in body.model_fields_set else current.get("secret")
        if secret:  # a kept secret stored before encryption is encrypted on this write
            secret = state.secrets.encrypt(str(secret))
        url = str(body.url)
        webhook = {"url": url, "events": body.events, "secret": secret}
        await instances.update_fields(session, row.id, webhook=webhook)
        if current.get("url") and current["url"] != url:
            await repository.move_pending(session, row.id, INSTANCE_TARGET, url)
    state.instances.invalidate_webhook(row.id)  # after the commit: new events use it at once
    out = webhook_out(webhook)
    assert out is not None
    return out


async def delete_webhook(state: WebhooksNode, name: str) -> None:
    """Remove the webhook; its pending deliveries are marked failed rather than sent unsigned
    to a URL the user took away."""
    async with state.db.transaction() as session:
        row = await instances.get_by_name(session, name)
        if row is None:
            raise _missing(name)
        await instances.update_fields(session, row.id, webhook=None)
        await repository.fail_pending(session, row.id, INSTANCE_TARGET, WEBHOOK_REMOVED)
    state.instances.invalidate_webhook(row.id)  # after the commit: no new rows for it here


def _targets(principal: Principal) -> list[str]:
    # The global webhook is the operator's: an instance token sees only its own deliveries.
    return [INSTANCE_TARGET, GLOBAL_TARGET] if principal.is_admin else [INSTANCE_TARGET]


def delivery_out(row: WebhookDelivery) -> DeliveryOut:
    return DeliveryOut.model_validate(row, from_attributes=True)


async def list_deliveries(
    state: WebhooksNode,
    name: str,
    principal: Principal,
    *,
    status: str | None,
    limit: int,
    cursor: str | None,
) -> DeliveryList:
    if cursor is not None and not repository.is_delivery_id(cursor):
        raise ValidationFailed.field("cursor", "not a cursor this API gave")
    row = await _instance(state, name)
    async with state.db.session() as session:
        rows = await repository.list_deliveries(
            session, row.id, status=status, targets=_targets(principal), limit=limit, cursor=cursor
        )
    next_cursor = rows[-1].id if len(rows) == limit else None
    return DeliveryList(deliveries=[delivery_out(r) for r in rows], next_cursor=next_cursor)


async def _delivery(
    state: WebhooksNode, name: str, principal: Principal, delivery_id: str
) -> tuple[Instance, WebhookDelivery]:
    row = await _instance(state, name)
    delivery = None
    if repository.is_delivery_id(delivery_id):
        async with state.db.session() as session:
            delivery = await repository.get_delivery(session, row.id, delivery_id)
    if delivery is None or delivery.target not in _targets(principal):
        raise NotFound(f"delivery '{delivery_id}' not found")
    return row, delivery


async def get_delivery(
    state: WebhooksNode, name: str, principal: Principal, delivery_id: str
) -> DeliveryDetail:
    _, delivery = await _delivery(state, name, principal, delivery_id)
    async with state.db.session() as session:
        attempts = await repository.attempts_of(session, delivery.id)
    return DeliveryDetail(
        **delivery_out(delivery).model_dump(), history=history_of(delivery, attempts)
    )


def history_of(delivery: WebhookDelivery, rows: Sequence[WebhookAttempt]) -> list[AttemptOut]:
    """Every try of a delivery, oldest first: the attempts table's rows, and the accepted try
    the delivery row holds (repository.record_outcomes wrote no row for it)."""
    tries = [AttemptOut.model_validate(row, from_attributes=True) for row in rows]
    if delivery.status == DeliveryStatus.DELIVERED.value and delivery.last_attempted_at:
        tries.append(
            AttemptOut(
                attempted_at=delivery.last_attempted_at,
                status_code=delivery.last_status_code,
                error=delivery.last_error,
                duration_ms=delivery.last_duration_ms or 0,
            )
        )
    return sorted(tries, key=lambda attempt: attempt.attempted_at)


async def redeliver(
    state: WebhooksNode, name: str, principal: Principal, delivery_id: str
) -> DeliveryOut:
    """Send the delivery's event again as a new delivery, to the webhook's current URL; the
    old delivery keeps its history."""
    instance, delivery = await _delivery(state, name, principal, delivery_id)
    if delivery.target == GLOBAL_TARGET:
        url = state.settings.webhook_url
    else:
        url = (instance.webhook or {}).get("url")
    if not url:
        raise Conflict("the webhook of this delivery has been removed")
    values = delivery_row(
        event_id=delivery.event_id,
        event=delivery.event,
        instance_id=instance.id,
        url=str(url),
        target=delivery.target,
        payload=delivery.payload,
    )
    async with state.db.transaction() as session:
        await repository.insert_deliveries(session, [values])
    if state.webhooks is not None:
        state.webhooks.wake()
    return DeliveryOut(
        **{k: v for k, v in values.items() if k in DeliveryOut.model_fields},
        last_status_code=None,
        last_error=None,
        delivered_at=None,
    )
