"""A broker transport's durable sink on the event bus: each event it wants becomes one row of
sink_deliveries, written before `EventBus.publish` returns (group-committed, as the webhook
outbox), and its worker (wagate.sinks.delivery) publishes it."""

from __future__ import annotations

from typing import Any, Literal

from wagate.batching import GroupCommit
from wagate.db import Database, utcnow
from wagate.events.bus import Event
from wagate.sinks import repository
from wagate.sinks.delivery import SinkWorker
from wagate.webhooks.outbox import encode, wants


class BrokerOutbox:
    durable: Literal[True] = True

    def __init__(self, db: Database, worker: SinkWorker, events: list[str] | None) -> None:
        self.db = db
        self.worker = worker
        # The transport's filter of event types (WAGATE_AMQP_EVENTS, WAGATE_NATS_EVENTS).
        self.events = events
        self._write: GroupCommit[Event, None] = GroupCommit(self._write_batch)

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

    async def _write_batch(self, events: list[Event]) -> list[None]:
        now = utcnow()
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
        async with self.db.autocommit() as connection:
            await repository.insert_rows(connection, rows)
        self.worker.wake()
        return [None] * len(events)
