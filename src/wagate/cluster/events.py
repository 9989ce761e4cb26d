"""Live events across nodes: what an instance's holder publishes reaches SSE everywhere.

Each node adds a sink to its EventBus that publishes the event on one Redis pub/sub channel,
and listens on that channel, handing the events of other nodes to its local subscribers
(`EventBus.fan_out`, which reaches SSE streams only: the webhook outbox was already written
once, by the holder). A node skips its own messages, so nothing is delivered twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import Any

import orjson
import structlog
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from wagate.events.bus import Event, EventBus

log = structlog.get_logger(__name__)
RETRY_S = 1.0
MAX_PENDING = 10_000  # events held while Redis is slow or down; later ones are dropped


class EventRelay:
    def __init__(self, redis: Redis, bus: EventBus, node_id: str, prefix: str) -> None:
        self.redis = redis
        self.bus = bus
        self.node_id = node_id
        self.channel = f"{prefix}events"
        self._task: asyncio.Task[None] | None = None
        self.received = 0
        # Events waiting to be relayed, and the task relaying them: one pipelined round trip
        # for all the events of a moment instead of one PUBLISH awaited per event (a tenth
        # of the node's CPU and a round trip in every sender's path, under load).
        self._pending: list[tuple[str, bytes]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(self.channel)  # subscribed before the node serves
        self._task = asyncio.create_task(self._listen(pubsub), name="cluster-events")
        self.bus.add_sink(self.publish)

    async def stop(self) -> None:
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def publish(self, event: Event) -> None:
        payload = {
            "node": self.node_id,
            "id": event.id,
            "event": event.event,
            "instance": event.instance,
            "instance_id": event.instance_id,
            "timestamp": event.timestamp.isoformat(),
            "data": event.data,
        }
        if len(self._pending) >= MAX_PENDING:
            log.warning("cluster event not relayed: backlog full", instance=event.instance)
            return
        self._pending.append((event.instance, orjson.dumps(payload)))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="cluster-events-relay")

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for _, raw in batch:
                        pipe.publish(self.channel, raw)
                    await pipe.execute()
            except Exception as exc:
                # Live streams on other nodes miss these events; the holder's own path (and
                # the webhooks, written before) must not fail for it.
                log.warning(
                    "cluster events not relayed",
                    count=len(batch),
                    instance=batch[0][0],
                    error=repr(exc),
                )

    def _deliver(self, raw: bytes | str) -> None:
        item: dict[str, Any] = orjson.loads(raw)
        if item.get("node") == self.node_id:
            return
        self.received += 1
        self.bus.fan_out(
            Event(
                id=item["id"],
                event=item["event"],
                instance=item["instance"],
                instance_id=int(item["instance_id"]),
                timestamp=datetime.fromisoformat(item["timestamp"]),
                data=item["data"],
            )
        )

    async def _listen(self, pubsub: PubSub) -> None:
        while True:
            try:
                # listen() also ends without an error when the connection dropped and the
                # subscription is gone: in both cases wait, then subscribe again (never spin).
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        try:
                            self._deliver(message["data"])
                        except Exception:
                            log.exception("bad cluster event")
                # listen() returns at once when nothing is subscribed (a resubscribe that
                # failed while Redis was down): go back through the retry path, or this
                # loop spins without yielding and stops the whole node.
                raise ConnectionError("cluster event channel not subscribed")
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
                raise
            except Exception as exc:
                log.warning("cluster event channel lost; resubscribing", error=repr(exc))
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(RETRY_S)
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            with contextlib.suppress(Exception):
                await pubsub.subscribe(self.channel)
