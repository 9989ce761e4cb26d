"""The embedded queue: in-process deques, rebuilt from the messages table at start.

What is still open in the table is read by the messages feature: the queue is handed that
query (`open_ids`) rather than importing a feature's repository from below.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from wagate.db import Database
from wagate.metrics import QUEUE_DEPTH
from wagate.queue.base import Entry

# (instance name, message pk) of every message not yet final, oldest first.
OpenIds = Callable[[AsyncSession], Awaitable[Sequence[tuple[str, int]]]]


class LocalQueue:
    def __init__(self, db: Database, open_ids: OpenIds) -> None:
        self.db = db
        self._open_ids = open_ids
        self._items: dict[str, deque[int]] = {}
        self._in_flight: dict[str, set[int]] = {}
        self._wakeups: dict[str, asyncio.Event] = {}
        self._woken: set[str] = set()  # instances whose take ends before it takes anything
        # Entries queued over all instances, kept as they come and go: summing the deques on
        # every enqueue and take cost a walk of every instance (10,000 on a large node).
        self._depth = 0

    async def start(self) -> None:
        async with self.db.session() as session:
            rows = await self._open_ids(session)
        for instance, pk in rows:
            self._items.setdefault(instance, deque()).append(pk)
            self._wake(instance)
        self._gauge(len(rows))

    async def close(self) -> None:
        for event in self._wakeups.values():
            event.set()

    def _wake(self, instance: str) -> None:
        self._wakeups.setdefault(instance, asyncio.Event()).set()

    def _gauge(self, change: int) -> None:
        self._depth += change
        QUEUE_DEPTH.set(self._depth)

    async def enqueue(self, instance: str, pks: Sequence[int]) -> None:
        self._items.setdefault(instance, deque()).extend(pks)
        self._wake(instance)
        self._gauge(len(pks))

    async def enqueue_many(self, batches: Mapping[str, Sequence[int]]) -> None:
        for instance, pks in batches.items():
            await self.enqueue(instance, pks)

    async def adopt(self, instance: str) -> None:
        """What this process took for the instance and never acknowledged (its sender failed
        between a take and its outcomes) goes back to the front, oldest first: the sender
        adopts before it takes again, so nothing stays in flight until a restart."""
        flight = self._in_flight.pop(instance, set())
        if flight:
            self._items.setdefault(instance, deque()).extendleft(sorted(flight, reverse=True))
            self._wake(instance)
            self._gauge(len(flight))

    async def take(self, instance: str, count: int, timeout_s: float) -> list[Entry]:
        items = self._items.setdefault(instance, deque())
        if not items:
            event = self._wakeups.setdefault(instance, asyncio.Event())
            event.clear()
            # asyncio.timeout, not wait_for: wait_for wraps the wait in a task of its own, and
            # every idle sender of a node with thousands of instances comes here each second.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await event.wait()
        if instance in self._woken:  # its sender stops: it takes nothing more
            self._woken.discard(instance)
            return []
        taken: list[Entry] = []
        flight = self._in_flight.setdefault(instance, set())
        while items and len(taken) < count:
            pk = items.popleft()
            flight.add(pk)
            taken.append(Entry(instance, pk, str(pk)))
        if taken:
            self._gauge(-len(taken))
        return taken

    def interrupt(self, instance: str) -> None:
        self._woken.add(instance)
        event = self._wakeups.get(instance)
        if event is not None:
            event.set()

    async def ack(self, instance: str, entries: Sequence[Entry]) -> None:
        flight = self._in_flight.setdefault(instance, set())
        for entry in entries:
            flight.discard(entry.pk)

    async def dead_letter(self, instance: str, pk: int, error: str) -> None:
        """The messages table is the embedded dead-letter store: nothing to add."""

    async def contained(self, instance: str) -> set[int]:
        return set(self._items.get(instance, ())) | self._in_flight.get(instance, set())

    async def depth(self) -> int:
        return self._depth

    async def health(self) -> str:
        return "ok"
