"""The queue's doorbell: one Redis channel on which every enqueue names the streams it added
to, and one subscription per node that wakes the takers waiting on those streams.

A taker that blocked in XREADGROUP held a Redis connection for its whole wait: one per
instance, which at thousands of instances on a node ran out of connections. With the bell a
waiting taker holds none; it reads without blocking when rung (or when its wait ends). A ring
is only a hint: one lost while the subscription was down costs the taker its wait, never an
entry, and every taker is rung when the subscription comes back.
"""

from __future__ import annotations

import asyncio
import contextlib

import redis.asyncio as aioredis
import structlog

from wagate.tasks import cancel_requested

log = structlog.get_logger(__name__)

RETRY_S = 1.0


class Doorbell:
    def __init__(self, redis: aioredis.Redis, channel: str) -> None:
        self.redis = redis
        self.channel = channel
        self._waiting: dict[str, asyncio.Event] = {}
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        # True while the subscription is confirmed: only then does a ring reach this node.
        self.live = False
        # Counts the subscriptions made and lost: a taker that read its stream empty at the same
        # generation, and was not rung since, knows it is still empty.
        self.generation = 0

    def start(self) -> None:
        """Subscribe (once, on the first wait: a node that never takes never listens)."""
        if self._task is None and not self._closed:
            self._task = asyncio.create_task(self._listen(), name="queue-doorbell")

    def bell(self, stream: str) -> asyncio.Event:
        """The event a ring on `stream` sets. Clear it before the read that found nothing, then
        wait on it: a ring between the two is kept."""
        found = self._waiting.get(stream)
        if found is None:
            found = self._waiting[stream] = asyncio.Event()
        return found

    async def close(self) -> None:
        self._closed = True
        self.generation += 1
        self.live = False
        self._ring_all()  # waiting takers end now
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    @property
    def closed(self) -> bool:
        return self._closed

    def _ring_all(self) -> None:
        for event in self._waiting.values():
            event.set()

    def _ring(self, data: str) -> None:
        for stream in data.split("\n"):
            event = self._waiting.get(stream)
            if event is not None:
                event.set()

    async def _listen(self) -> None:
        # Ends on cancel even when a Redis call swallowed the CancelledError (wagate.tasks).
        while not self._closed and not cancel_requested():
            pubsub = self.redis.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                async for message in pubsub.listen():
                    kind = message.get("type")
                    if kind == "subscribe":
                        self.generation += 1
                        self.live = True
                        self._ring_all()  # rings sent before the subscription held are lost
                    elif kind == "message":
                        self._ring(message["data"])
                # listen() also ends without an error when the connection dropped: go round
                # the retry path rather than spinning.
                raise ConnectionError("queue doorbell not subscribed")
            except Exception as exc:
                if self._closed or cancel_requested():
                    return
                log.warning("queue doorbell lost; subscribing again", error=repr(exc))
            finally:
                self.generation += 1
                self.live = False
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            self._ring_all()  # not live: each taker reads again at the end of every wait
            await asyncio.sleep(RETRY_S)
