"""What consumes the bus's events: every consumer is an EventSink, registered on the bus by
whoever builds it (the app), started by `EventBus.start` and stopped by `EventBus.stop`.

A sink is durable or live:

- durable (`DurableSink`): must not lose an event. `deliver` is awaited in `EventBus.publish`,
  before the publisher goes on, so an event is written before the action that raised it counts
  as done (the webhook outbox writes its delivery rows; the slow work happens elsewhere). Only
  this node's own events reach it: another node's were delivered there.
- live (`LiveSink`): fan-out that never blocks. `offer` is called for this node's events and
  for those relayed from other nodes; a consumer that cannot keep up is cut off or drops, it
  never slows the publisher (SSE streams, the sync-send waiters, the cluster relay).

`accepts` is asked first, for each event: a sink that takes only some events (of some types,
of instances with a reader) says so there, and costs nothing for the others.
"""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

from wagate.events.event import Event


class EventSink(Protocol):
    @property
    def name(self) -> str:
        """What the logs call it."""
        ...

    @property
    def durable(self) -> bool: ...

    def accepts(self, event: Event) -> bool: ...

    async def start(self) -> None:
        """Before the node serves: connect, subscribe."""

    async def stop(self) -> None:
        """At shutdown, after the last publisher: finish (write) the events in hand."""


class DurableSink(EventSink, Protocol):
    @property
    def durable(self) -> Literal[True]: ...

    async def deliver(self, event: Event) -> None:
        """Keep the event (a row written, a message confirmed) before returning; an error
        here is logged by the bus and does not stop the other sinks."""


class LiveSink(EventSink, Protocol):
    @property
    def durable(self) -> Literal[False]: ...

    def offer(self, event: Event) -> None:
        """Hand the event on without waiting (it runs in the publisher's path)."""


@runtime_checkable
class EventBridge(LiveSink, Protocol):
    """A live sink that joins this node's bus to the other nodes' (the cluster relay): it
    takes this node's events out (`offer`) and brings theirs in (`EventBus.fan_out` with
    itself as the origin, so they are not sent back out)."""

    async def want(self) -> None:
        """Something here is about to use events of any instance (a stream opens, a sync send
        waits): bring other nodes' events in from now on; return once they come."""

    async def end_streams(self, instance: str, *, admin_too: bool) -> None:
        """Carry the order to end the instance's live streams to the other nodes."""


AnySink = DurableSink | LiveSink
