"""The live streams of this node (SSE, WebSocket, the dashboard): a live sink that hands each
event to the queues of its instance's open streams (or of the streams of every instance), with a
cap per owner and the end of an instance's streams when its token changes or it is gone.

A stream's queue holds at most its buffer; a reader that falls that far behind is cut off (its
queue ends with `None`), so a slow consumer costs a bounded amount of memory. Why a queue ended
stays readable (`why_ended`) until its subscription exits, for a transport that says so."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Literal

from wagate.events.event import Event

SUBSCRIBER_BUFFER = 1000
ADMIN_OWNER = "admin"  # the owner of streams opened with the admin token
# The key of the streams that take every instance's events (an instance name is never empty).
EVERY_INSTANCE = ""

# Why a stream's queue ended: its reader fell a whole buffer behind; the order to end the
# instance's streams came (token rotated, logged out, deleted); the instance is gone here; the
# node stops.
EndReason = Literal["overflow", "ended", "gone", "shutdown"]


class TooManyStreams(Exception):
    """The owner (a token) already has as many live streams on this node as allowed."""


class LiveStreams:
    name = "streams"
    durable: Literal[False] = False

    def __init__(self) -> None:
        self._subscribers: dict[str, set[asyncio.Queue[Event | None]]] = defaultdict(set)
        # Who opened each live stream (a token's hash, or ADMIN_OWNER), and how many each has.
        self._owner_of: dict[asyncio.Queue[Event | None], str] = {}
        self._per_owner: dict[str, int] = defaultdict(int)
        self._why: dict[asyncio.Queue[Event | None], EndReason] = {}

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        self.close()

    def accepts(self, event: Event) -> bool:
        return event.instance in self._subscribers or EVERY_INSTANCE in self._subscribers

    def offer(self, event: Event) -> None:
        for key in (event.instance, EVERY_INSTANCE):
            for queue in list(self._subscribers.get(key, ())):
                try:
                    queue.put_nowait(event)
                except asyncio.QueueFull:
                    # A subscriber that stopped reading is cut off rather than slowing everyone.
                    self._subscribers[key].discard(queue)
                    self._end(queue, "overflow")

    def open(self) -> bool:
        """Whether any stream is open here."""
        return bool(self._subscribers)

    def why_ended(self, queue: asyncio.Queue[Event | None]) -> EndReason | None:
        """Why the queue ended (None: it did not, or its subscription is over)."""
        return self._why.get(queue)

    def _end(self, queue: asyncio.Queue[Event | None], why: EndReason) -> None:
        if queue in self._owner_of:
            self._why.setdefault(queue, why)
        while True:
            try:
                queue.put_nowait(None)
                return
            except asyncio.QueueFull:
                queue.get_nowait()

    @asynccontextmanager
    async def subscribe(
        self,
        instance: str | tuple[str, ...],
        owner: str,
        max_per_owner: int,
        want: Callable[[], Awaitable[None]],
        buffer: int = SUBSCRIBER_BUFFER,
    ) -> AsyncIterator[asyncio.Queue[Event | None]]:
        """See EventBus.subscribe; `want` is awaited once the slot is taken. `instance` may
        name several instances, or EVERY_INSTANCE, for one queue of all their events."""
        keys = (instance,) if isinstance(instance, str) else instance
        if max_per_owner > 0 and self._per_owner.get(owner, 0) >= max_per_owner:
            raise TooManyStreams(owner)
        # The slot is taken before the await, so concurrent opens cannot all pass the check.
        queue: asyncio.Queue[Event | None] = asyncio.Queue(buffer)
        self._owner_of[queue] = owner
        self._per_owner[owner] += 1
        try:
            await want()
            for key in keys:
                self._subscribers[key].add(queue)
            yield queue
        finally:
            for key in keys:
                subscribers = self._subscribers.get(key)
                if subscribers is not None:
                    subscribers.discard(queue)
                    if not subscribers:
                        self._subscribers.pop(key, None)
            del self._owner_of[queue]
            self._why.pop(queue, None)
            self._per_owner[owner] -= 1
            if not self._per_owner[owner]:
                del self._per_owner[owner]

    def streams_of(self, owner: str) -> int:
        return self._per_owner.get(owner, 0)

    def end(self, instance: str, *, admin_too: bool) -> None:
        """End the instance's streams opened with an instance token, and those opened with
        the admin token too when `admin_too`."""
        subscribers = self._subscribers.get(instance, set())
        for queue in list(subscribers):
            if admin_too or self._owner_of.get(queue) != ADMIN_OWNER:
                subscribers.discard(queue)
                self._end(queue, "ended")
        if not subscribers:
            self._subscribers.pop(instance, None)

    def close_instance(self, instance: str, why: EndReason = "gone") -> None:
        for queue in self._subscribers.pop(instance, set()):
            self._end(queue, why)

    def close(self) -> None:
        for instance in list(self._subscribers):
            self.close_instance(instance, "shutdown")
