"""The durable sink of the event bus: each event becomes one delivery row per webhook that
wants it, written before `EventBus.publish` returns, so no event is lost by a crash after it."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from wagate.batching import GroupCommit
from wagate.config import Settings
from wagate.db import Database, utcnow
from wagate.events.bus import Event
from wagate.webhooks import repository
from wagate.webhooks.retry import DeliveryStatus

INSTANCE_TARGET = "instance"
GLOBAL_TARGET = "global"
WEBHOOK_REMOVED = "webhook removed"


def wants(events: list[str] | None, event: str) -> bool:
    """No filter (None or empty) means every event."""
    return not events or event in events


def encode(event: Event) -> str:
    """The exact body that is posted and signed."""
    return json.dumps(event.envelope(), separators=(",", ":"), ensure_ascii=False)


def delivery_row(
    *, event_id: str, event: str, instance_id: int | None, url: str, target: str, payload: str
) -> dict[str, Any]:
    now = utcnow()
    return {
        "id": repository.new_delivery_id(),
        "event_id": event_id,
        "instance_id": instance_id,
        "event": event,
        "url": url,
        "target": target,
        "payload": payload,
        "status": DeliveryStatus.PENDING.value,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


class Outbox:
    def __init__(self, settings: Settings, db: Database, wake: Callable[[], None]) -> None:
        self.settings = settings
        self.db = db
        self.wake = wake
        # Events published at the same time (receipts of many instances) share one transaction.
        self._write: GroupCommit[Event, None] = GroupCommit(self._write_batch)

    async def __call__(self, event: Event) -> None:
        await self._write(event)

    async def _write_batch(self, events: list[Event]) -> list[None]:
        global_url = self.settings.webhook_url
        rows: list[dict[str, Any]] = []
        async with self.db.transaction() as session:
            webhooks = await repository.instance_webhooks(
                session, (event.instance_id for event in events)
            )
            for event in events:
                targets: list[tuple[str, str]] = []
                webhook = webhooks.get(event.instance_id)
                if webhook and webhook.get("url") and wants(webhook.get("events"), event.event):
                    targets.append((INSTANCE_TARGET, str(webhook["url"])))
                if global_url and wants(self.settings.webhook_event_filter, event.event):
                    targets.append((GLOBAL_TARGET, global_url))
                if not targets:
                    continue
                payload = encode(event)
                rows.extend(
                    delivery_row(
                        event_id=event.id,
                        event=event.event,
                        instance_id=event.instance_id,
                        url=url,
                        target=target,
                        payload=payload,
                    )
                    for target, url in targets
                )
            await repository.insert_deliveries(session, rows)
        if rows:
            self.wake()
        return [None] * len(events)
