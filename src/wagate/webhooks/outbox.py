"""The webhooks' durable sink on the event bus: each event becomes one delivery row per webhook
that wants it, written before `EventBus.publish` returns, so no event is lost by a crash after
it (wagate.webhooks.delivery posts them)."""

from __future__ import annotations

import json
from typing import Any, Literal, Protocol

from wagate.batching import GroupCommit
from wagate.config import Settings
from wagate.db import Database, utcnow
from wagate.events.bus import Event
from wagate.instances.cache import InstanceCache
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
        "claim_token": None,
        "claimed_until": None,
        "created_at": now,
    }


class Handoff(Protocol):
    """This node's delivery worker, as the outbox hands it the rows it writes
    (wagate.webhooks.delivery.DeliveryWorker)."""

    def reserve(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]: ...

    def unreserve(self, rows: list[dict[str, Any]]) -> None: ...

    def left_in_table(self, urls: set[str]) -> None: ...

    async def adopt(
        self, rows: list[dict[str, Any]], webhooks: dict[int, dict[str, Any] | None]
    ) -> None: ...


class Outbox:
    name = "webhooks"
    durable: Literal[True] = True

    def __init__(
        self,
        settings: Settings,
        db: Database,
        worker: Handoff,
        cache: InstanceCache | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.worker = worker
        # The instances' webhooks, cached per node (see InstanceCache for their invalidation):
        # reading them cost a query in every batch of events.
        self.cache = cache or InstanceCache(0)
        # Events published at the same time (receipts of many instances) share one transaction.
        self._write: GroupCommit[Event, None] = GroupCommit(self._write_batch)

    def accepts(self, event: Event) -> bool:
        # Which webhooks want it is read per batch of events (`_write_batch`).
        return True

    async def deliver(self, event: Event) -> None:
        await self._write(event)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        """Shutdown: the events in hand are written (or their publishers fail)."""
        await self._write.drain()

    async def _webhooks(self, events: list[Event]) -> dict[int, dict[str, Any] | None]:
        webhooks: dict[int, dict[str, Any] | None] = {}
        missing: set[int] = set()
        for event in events:
            found, webhook = self.cache.webhook(event.instance_id)
            if found:
                webhooks[event.instance_id] = webhook
            else:
                missing.add(event.instance_id)
        if missing:
            generation = self.cache.generation
            async with self.db.session() as session:
                read = await repository.instance_webhooks(session, missing)
            for instance_id, webhook in read.items():
                self.cache.put_webhook(instance_id, webhook, generation)
            webhooks.update(read)
        return webhooks

    async def _write_batch(self, events: list[Event]) -> list[None]:
        global_url = self.settings.webhook_url
        rows: list[dict[str, Any]] = []
        webhooks = await self._webhooks(events)
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
        if rows:  # events no webhook wants cost no transaction
            # The rows this node's worker has room for are written claimed by it and handed
            # over once committed; the rest wait in the table for a claim (any node's).
            handed = self.worker.reserve(rows)
            try:
                async with self.db.autocommit() as connection:
                    await repository.insert_deliveries(connection, rows)
            except BaseException:
                self.worker.unreserve(handed)
                raise
            if handed:
                await self.worker.adopt(handed, webhooks)
            if len(handed) < len(rows):
                handed_ids = {row["id"] for row in handed}
                self.worker.left_in_table(
                    {row["url"] for row in rows if row["id"] not in handed_ids}
                )
        return [None] * len(events)
