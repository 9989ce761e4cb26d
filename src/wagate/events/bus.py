"""The event bus: every instance event is built from its payload model and handed to the sinks
(wagate.events.sinks): awaited by the durable ones (the webhook outbox), fanned out to the live
ones (SSE streams, the sync-send waiters, the cluster relay)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal

import structlog

from wagate.db import utcnow
from wagate.events.event import Event, isoformat, new_event_id
from wagate.events.payloads import Payload
from wagate.events.replay import RECENT_EVENTS, RecentEvents, Resumed
from wagate.events.sinks import AnySink, DurableSink, EventBridge, LiveSink
from wagate.events.streams import (
    ADMIN_OWNER,
    EVERY_INSTANCE,
    SUBSCRIBER_BUFFER,
    EndReason,
    LiveStreams,
    TooManyStreams,
)

# What callers import from here: the bus is the events package's front.
__all__ = [
    "ADMIN_OWNER",
    "EVERY_INSTANCE",
    "EndReason",
    "Event",
    "EventBus",
    "RecentEvents",
    "Resumed",
    "TooManyStreams",
    "isoformat",
]

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Watcher:
    """A plain callback as a live sink (`EventBus.watch`)."""

    name: str
    callback: Callable[[Event], None]
    durable: Literal[False] = False

    def accepts(self, event: Event) -> bool:
        return True

    def offer(self, event: Event) -> None:
        self.callback(event)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


class EventBus:
    def __init__(self, recent_events: int = RECENT_EVENTS) -> None:
        # This node's live streams: the bus's own live sink, behind `subscribe`.
        self.streams = LiveStreams()
        # The last events fanned out here, for a live stream that resumes after an event id.
        self.recent = RecentEvents(recent_events)
        self._durable: list[DurableSink] = []
        self._live: list[LiveSink] = [self.recent, self.streams]
        self._bridges: list[EventBridge] = []
        self._started: list[AnySink] = []
        # Other uses of events here besides the live streams (a sync send waiting).
        self._interest_probes: list[Callable[[], bool]] = []
        # What else follows the end of an instance's streams here (the instance cache).
        self._end_watchers: list[Callable[[str], None]] = []

    def add_sink(self, sink: AnySink) -> None:
        """Register a sink; `start` starts it, `stop` stops it."""
        if sink.durable:
            self._durable.append(sink)
        else:
            self._live.append(sink)
            if isinstance(sink, EventBridge):
                self._bridges.append(sink)

    def sinks(self) -> list[AnySink]:
        return [*self._durable, *self._live]

    async def start(self) -> None:
        """Start the sinks not started yet: the durable ones first, ready before a live one
        (a bridge) brings events in; each kind in the order it was added."""
        for sink in self.sinks():
            if sink not in self._started:
                await sink.start()
                self._started.append(sink)

    async def stop(self) -> None:
        """Stop the started sinks, after the last publisher: the durable ones first (they
        write the events in hand, which must not wait behind a live sink's slow goodbye),
        then the live ones; the last started first within each kind."""
        started, self._started = self._started, []
        for sink in sorted(reversed(started), key=lambda sink: not sink.durable):
            try:
                await sink.stop()
            except Exception:
                log.exception("event sink not stopped cleanly", sink=sink.name)

    async def publish(self, instance: str, instance_id: int, payload: Payload) -> Event:
        """The event of `payload`'s type (its model's `event`) with its data: kept by every
        durable sink before this returns, then handed to the live ones."""
        item = Event(new_event_id(), payload.event, instance, instance_id, utcnow(), payload.data())
        for sink in self._durable:
            if not sink.accepts(item):
                continue
            try:
                await sink.deliver(item)
            except Exception:
                log.exception(
                    "event sink failed", sink=sink.name, instance=instance, event_name=item.event
                )
        self.fan_out(item)
        return item

    def fan_out(self, item: Event, origin: LiveSink | None = None) -> None:
        """Hand an event to the live sinks (never blocks): one published here, or one that
        `origin` (a bridge) brought from another node, which is not sent back to it."""
        for sink in self._live:
            if sink is origin or not sink.accepts(item):
                continue
            try:
                sink.offer(item)
            except Exception:
                log.exception("live event sink failed", sink=sink.name, event_name=item.event)

    def watch(self, watcher: Callable[[Event], None], name: str = "watcher") -> None:
        """A callback for every event fanned out, local or relayed from another node (must
        not block: it runs in the publisher's path)."""
        self.add_sink(Watcher(name, watcher))

    def add_interest(self, probe: Callable[[], bool]) -> None:
        """Another use of events here besides the live streams: true while it lasts."""
        self._interest_probes.append(probe)

    async def want(self) -> None:
        """Something on this node is about to use events of any instance, wherever they are
        published (a stream opens; a sync send waits for its `message_ack`). On a cluster
        the relay listens to the other nodes from then on; it returns once it does."""
        for bridge in self._bridges:
            await bridge.want()

    def interested(self) -> bool:
        """Whether anything here uses events now: a live stream, or a probe's use."""
        return self.streams.open() or any(probe() for probe in self._interest_probes)

    @asynccontextmanager
    async def subscribe(
        self,
        instance: str | tuple[str, ...],
        owner: str = ADMIN_OWNER,
        max_per_owner: int = 0,
        buffer: int = SUBSCRIBER_BUFFER,
    ) -> AsyncIterator[asyncio.Queue[Event | None]]:
        """A queue of the instance's events (of several instances', or of every instance's
        with EVERY_INSTANCE); `None` means the stream was closed (`streams.why_ended` says
        why). `owner` says who opened it (the hash of an instance token, or ADMIN_OWNER);
        past `max_per_owner` live queues of one owner (0: no cap) it raises TooManyStreams.
        A reader `buffer` events behind is cut off."""
        async with self.streams.subscribe(
            instance, owner, max_per_owner, self.want, buffer
        ) as queue:
            yield queue

    def streams_of(self, owner: str) -> int:
        """How many live streams `owner` has open on this node."""
        return self.streams.streams_of(owner)

    def watch_end_streams(self, watcher: Callable[[str], None]) -> None:
        """A callback for every instance whose streams end, by this node's order or another's."""
        self._end_watchers.append(watcher)

    async def end_streams(self, instance: str, *, admin_too: bool) -> None:
        """End the instance's live streams opened with an instance token (its token was
        rotated, or it logged out), and those opened with the admin token too when
        `admin_too` (it was deleted): here and, through the bridges, on every other node."""
        self.end_streams_here(instance, admin_too=admin_too)
        for bridge in self._bridges:
            try:
                await bridge.end_streams(instance, admin_too=admin_too)
            except Exception:
                log.exception("streams not ended on other nodes", instance=instance)

    def end_streams_here(self, instance: str, *, admin_too: bool) -> None:
        """`end_streams` on this node only (another node ordered it)."""
        self.streams.end(instance, admin_too=admin_too)
        for watcher in self._end_watchers:
            try:
                watcher(instance)
            except Exception:
                log.exception("end-of-streams watcher failed", instance=instance)

    def close_instance(self, instance: str) -> None:
        """End every live stream of an instance here (it was deleted)."""
        self.streams.close_instance(instance)

    def close(self) -> None:
        """End every live stream here (the node stops)."""
        self.streams.close()
