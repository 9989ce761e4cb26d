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
from typing import Any, Protocol

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
ADMIN_OWNER = "admin"  # the owner of streams opened with the admin token


class TooManyStreams(Exception):
    """The owner (a token) already has as many live streams on this node as allowed."""


class EndStreamsHook(Protocol):
    async def __call__(self, instance: str, *, admin_too: bool) -> None: ...


class EventBus:
    def __init__(self) -> None:
        self._sinks: list[Sink] = []
        self._subscribers: dict[str, set[asyncio.Queue[Event | None]]] = defaultdict(set)
        self._watchers: list[Callable[[Event], None]] = []
        # Who wants events from elsewhere (the cluster relay) and what else uses them here.
        self._interest_hooks: list[Callable[[], Awaitable[None]]] = []
        self._interest_probes: list[Callable[[], bool]] = []
        # Who opened each live stream (a token's hash, or ADMIN_OWNER), and how many each has.
        self._owner_of: dict[asyncio.Queue[Event | None], str] = {}
        self._per_owner: dict[str, int] = defaultdict(int)
        # Told when an instance's streams must end everywhere (the cluster relay), and what
        # else follows that here (the instance cache forgets the instance).
        self._end_hooks: list[EndStreamsHook] = []
        self._end_watchers: list[Callable[[str], None]] = []

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
    async def subscribe(
        self, instance: str, owner: str = ADMIN_OWNER, max_per_owner: int = 0
    ) -> AsyncIterator[asyncio.Queue[Event | None]]:
        """A queue of the instance's events; `None` means the stream was closed. `owner` says
        who opened it (the hash of an instance token, or ADMIN_OWNER); past `max_per_owner`
        live queues of one owner (0: no cap) it raises TooManyStreams."""
        if max_per_owner > 0 and self._per_owner.get(owner, 0) >= max_per_owner:
            raise TooManyStreams(owner)
        # The slot is taken before the await, so concurrent opens cannot all pass the check.
        queue: asyncio.Queue[Event | None] = asyncio.Queue(SUBSCRIBER_BUFFER)
        self._owner_of[queue] = owner
        self._per_owner[owner] += 1
        try:
            await self.want()
            self._subscribers[instance].add(queue)
            yield queue
        finally:
            subscribers = self._subscribers.get(instance)
            if subscribers is not None:
                subscribers.discard(queue)
                if not subscribers:
                    self._subscribers.pop(instance, None)
            del self._owner_of[queue]
            self._per_owner[owner] -= 1
            if not self._per_owner[owner]:
                del self._per_owner[owner]

    def streams_of(self, owner: str) -> int:
        """How many live streams `owner` has open on this node."""
        return self._per_owner.get(owner, 0)

    def on_end_streams(self, hook: EndStreamsHook) -> None:
        """`hook` is awaited by `end_streams`: it takes the order to the other nodes."""
        self._end_hooks.append(hook)

    def watch_end_streams(self, watcher: Callable[[str], None]) -> None:
        """A callback for every instance whose streams end, by this node's order or another's."""
        self._end_watchers.append(watcher)

    async def end_streams(self, instance: str, *, admin_too: bool) -> None:
        """End the instance's live streams opened with an instance token (its token was
        rotated, or it logged out), and those opened with the admin token too when
        `admin_too` (it was deleted): here and, through the hooks, on every other node."""
        self.end_streams_here(instance, admin_too=admin_too)
        for hook in self._end_hooks:
            try:
                await hook(instance, admin_too=admin_too)
            except Exception:
                log.exception("streams not ended on other nodes", instance=instance)

    def end_streams_here(self, instance: str, *, admin_too: bool) -> None:
        """`end_streams` on this node only (another node ordered it)."""
        subscribers = self._subscribers.get(instance, set())
        for queue in list(subscribers):
            if admin_too or self._owner_of.get(queue) != ADMIN_OWNER:
                subscribers.discard(queue)
                self._end(queue)
        if not subscribers:
            self._subscribers.pop(instance, None)
        for watcher in self._end_watchers:
            try:
                watcher(instance)
            except Exception:
                log.exception("end-of-streams watcher failed", instance=instance)

    def close_instance(self, instance: str) -> None:
        """End every live stream of an instance here (it was deleted)."""
        for queue in self._subscribers.pop(instance, set()):
            self._end(queue)

    def close(self) -> None:
        for instance in list(self._subscribers):
            self.close_instance(instance)
