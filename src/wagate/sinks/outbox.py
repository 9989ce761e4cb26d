"""A broker transport's durable sink on the event bus: each event it wants becomes one row of
sink_deliveries, written before `EventBus.publish` returns (group-committed, as the webhook
outbox), and its worker (wagate.sinks.delivery) publishes it."""

from __future__ import annotations

import time
from typing import Any, Literal

from wagate.batching import GroupCommit
from wagate.db import Database, utcnow
from wagate.events.bus import Event
from wagate.sinks import repository
from wagate.sinks.delivery import SinkWorker
from wagate.webhooks.outbox import encode, wants


def wanted(own: list[str] | None, event: str) -> bool:
    """An instance's own filter: none set means every event, an empty list none."""
    return own is None or event in own


class BrokerOutbox:
    durable: Literal[True] = True

    def __init__(
        self,
        db: Database,
        worker: SinkWorker,
        events: list[str] | None,
        filter_ttl_s: float = 2.0,
    ) -> None:
        self.db = db
        self.worker = worker
        # The transport's filter of event types (WAGATE_AMQP_EVENTS, WAGATE_NATS_EVENTS).
        self.events = events
        # The instances' own filters (PUT /v1/instances/{instance}/sinks/{sink}), kept for
        # `filter_ttl_s` (WAGATE_INSTANCE_CACHE_TTL_S): reading them would cost a query in
        # every batch of events. A change on this node applies at once (`forget`).
        self.filter_ttl_s = filter_ttl_s
        self._filters: dict[int, tuple[float, list[str] | None]] = {}
        self._write: GroupCommit[Event, None] = GroupCommit(self._write_batch)

    def forget(self, instance_id: int) -> None:
        """The instance's filter changed here: read it again for its next event."""
        self._filters.pop(instance_id, None)

    @property
    def name(self) -> str:
        return self.worker.name

    def accepts(self, event: Event) -> bool:
        return wants(self.events, event.event)

    async def deliver(self, event: Event) -> None:
        await self._write(event)

    async def start(self) -> None:
        await self.worker.start()

    async def stop(self) -> None:
        """Shutdown: the events in hand are written, then the worker stops (what it holds is
        published or handed back)."""
        await self._write.drain()
        await self.worker.stop()

    async def _instance_filters(self, events: list[Event]) -> dict[int, list[str] | None]:
        clock = time.monotonic()
        found: dict[int, list[str] | None] = {}
        missing: set[int] = set()
        for event in events:
            cached = self._filters.get(event.instance_id)
            if cached is not None and cached[0] > clock:
                found[event.instance_id] = cached[1]
            else:
                missing.add(event.instance_id)
        if missing:
            async with self.db.session() as session:
                read = await repository.filters(session, self.name, sorted(missing))
            for instance_id in missing:
                found[instance_id] = read.get(instance_id)
                self._filters[instance_id] = (clock + self.filter_ttl_s, read.get(instance_id))
        return found

    async def _write_batch(self, batch: list[Event]) -> list[None]:
        now = utcnow()
        own = await self._instance_filters(batch)
        events = [event for event in batch if wanted(own[event.instance_id], event.event)]
        rows: list[dict[str, Any]] = [
            repository.row(
                self.name,
                event_id=event.id,
                instance_id=event.instance_id,
                instance=event.instance,
                event=event.event,
                payload=encode(event),
                now=now,
            )
            for event in events
        ]
        if rows:  # events no instance wants here cost no transaction
            async with self.db.autocommit() as connection:
                await repository.insert_rows(connection, rows)
            self.worker.wake()
        return [None] * len(batch)
