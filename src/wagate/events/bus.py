"""The event bus: every instance event goes to the durable sinks (webhook outbox) and to the
live subscribers (SSE streams, the dashboard)."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from wagate.db import utcnow
from wagate.events.payloads import PAYLOADS

log = structlog.get_logger(__name__)

EVENT_NAMES = tuple(PAYLOADS)


def new_event_id() -> str:
    return "evt_" + uuid.uuid4().hex


def isoformat(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    event: str
    instance: str
    instance_id: int
    timestamp: datetime
    data: dict[str, Any]

    def envelope(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event": self.event,
            "instance": self.instance,
            "timestamp": isoformat(self.timestamp),
            "data": self.data,
        }


Sink = Callable[[Event], Awaitable[None]]
SUBSCRIBER_BUFFER = 1000


class EventBus:
    def __init__(self) -> None:
        self._sinks: list[Sink] = []
        self._subscribers: dict[str, set[asyncio.Queue[Event | None]]] = defaultdict(set)
        self._watchers: list[Callable[[Event], None]] = []
        # Who wants events from elsewhere (the cluster relay) and what else uses them here.
        self._interest_hooks: list[Callable[[], Awaitable[None]]] = []
        self._interest_probes: list[Callable[[], bool]] = []

    def add_sink(self, sink: Sink) -> None:
        """A durable consumer (the webhook outbox): awaited before publish returns."""
        self._sinks.append(sink)

    async def publish(
        self, instance: str, instance_id: int, event: str, data: dict[str, Any]
    ) -> Event:
        item = Event(new_event_id(), event, instance, instance_id, utcnow(), data)
        for sink in self._sinks:
            try:
                await sink(item)
            except Exception:
                log.exception("event sink failed", instance=instance, event_name=event)
        self.fan_out(item)
        return item

    def on_interest(self, hook: Callable[[], Awaitable[None]]) -> None:
        """`hook` is awaited whenever something here starts to use events (see `want`)."""
        self._interest_hooks.append(hook)

    def add_interest(self, probe: Callable[[], bool]) -> None:
        """Another use of events here besides the live subscribers: true while it lasts."""
        self._interest_probes.append(probe)

    async def want(self) -> None:
        """Something on this node is about to use events of any instance, wherever they are
        published (a stream opens; a sync send waits for its `message_ack`). On a cluster
        the relay listens to the other nodes from then on; it returns once it does."""
        for hook in self._interest_hooks:
            await hook()

    def interested(self) -> bool:
        """Whether anything here uses events now: a live subscriber, or a probe's use."""
        return bool(self._subscribers) or any(probe() for probe in self._interest_probes)

    def watch(self, watcher: Callable[[Event], None]) -> None:
        """A callback for every event fanned out, local or relayed from another node (must
        not block: it runs in the publisher's path)."""
        self._watchers.append(watcher)

    def fan_out(self, item: Event) -> None:
        """Hand an event to the live subscribers of its instance (never blocks)."""
        for watcher in self._watchers:
            try:
                watcher(item)
            except Exception:
                log.exception("event watcher failed", event_name=item.event)
        for queue in list(self._subscribers.get(item.instance, ())):
            try:
                queue.put_nowait(item)
            except asyncio.QueueFull:
                # A subscriber that stopped reading is cut off rather than slowing everyone.
                self._subscribers[item.instance].discard(queue)
                self._end(queue)

    @staticmethod
    def _end(queue: asyncio.Queue[Event | None]) -> None:
        while True:
            try:
                queue.put_nowait(None)
                return
            except asyncio.QueueFull:
                queue.get_nowait()

    @asynccontextmanager
    async def subscribe(self, instance: str) -> AsyncIterator[asyncio.Queue[Event | None]]:
        """A queue of the instance's events; `None` means the stream was closed."""
        await self.want()
        queue: asyncio.Queue[Event | None] = asyncio.Queue(SUBSCRIBER_BUFFER)
        self._subscribers[instance].add(queue)
        try:
            yield queue
        finally:
            subscribers = self._subscribers.get(instance)
            if subscribers is not None:
                subscribers.discard(queue)
                if not subscribers:
                    self._subscribers.pop(instance, None)

    def close_instance(self, instance: str) -> None:
        """End every live stream of an instance (it was deleted)."""
        for queue in self._subscribers.pop(instance, set()):
            self._end(queue)

    def close(self) -> None:
        for instance in list(self._subscribers):
            self.close_instance(instance)
