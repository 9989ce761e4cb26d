"""The last events this node fanned out, for the live streams that resume: a client that lost
its stream reconnects with the id of the last event it saw (SSE's `Last-Event-ID`, the
WebSocket's `last_event_id`) and first gets what came after it, then the live events.

A live sink that keeps every event it is offered (this node's own, and those relayed from
other nodes while this one listens to them) in one bounded window, the oldest dropped first:
its memory is bounded whatever the traffic. An id no longer (or never) in the window cannot be
resumed from: `after` says so with None and the stream tells its client it may have missed
events (the durable transports, webhooks and brokers, are the way to miss none).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection
from typing import Literal

from wagate.events.event import Event

RECENT_EVENTS = 10_000


class Resumed:
    """What a stream that resumes sends first (`missed`, oldest first; `gap`: the id was not
    in the window, so events may be missing), and which live events it already sent: those
    that came after the stream subscribed are in both, and go out once."""

    def __init__(self, missed: list[Event] | None) -> None:
        self.gap = missed is None
        self.missed = missed or []
        self._sent = {item.id for item in self.missed}

    def fresh(self, item: Event) -> bool:
        """Whether a live event is yet to be sent (false for one `missed` held)."""
        if item.id in self._sent:
            self._sent.discard(item.id)
            return False
        return True


class RecentEvents:
    name = "recent"
    durable: Literal[False] = False

    def __init__(self, size: int = RECENT_EVENTS) -> None:
        self._events: deque[Event] = deque(maxlen=size)

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    def accepts(self, event: Event) -> bool:
        return True

    def offer(self, event: Event) -> None:
        self._events.append(event)

    def __len__(self) -> int:
        return len(self._events)

    def resume(self, last_id: str | None, instances: Collection[str] | None) -> Resumed:
        """Where a stream subscribed now resumes after `last_id` (None: it does not)."""
        return Resumed([] if last_id is None else self.after(last_id, instances))

    def after(self, last_id: str, instances: Collection[str] | None) -> list[Event] | None:
        """The events after the one with `last_id`, oldest first, of `instances` (None: of
        every instance); None when that event is not in the window."""
        events = list(self._events)
        # From the newest: a client resumes after a recent event, so the scan is short.
        for index in range(len(events) - 1, -1, -1):
            if events[index].id == last_id:
                return [
                    item
                    for item in events[index + 1 :]
                    if instances is None or item.instance in instances
                ]
        return None
