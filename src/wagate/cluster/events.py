"""Live events across nodes: what an instance's holder publishes reaches SSE everywhere.

The relay is a bridge sink on each node's EventBus (wagate.events.sinks.EventBridge): it
publishes the node's events on one Redis pub/sub channel. A node listens on that channel only
while it has a use for other nodes' events: a live stream (SSE) open on it, or a sync send
waiting for its outcome there (the `message_ack` wakes it; otherwise it polls the row). It
hands those events to its live sinks (`EventBus.fan_out` with itself as the origin: SSE
streams and the outcome waiters, never the durable sinks, which the holder's node already
wrote to, nor back to this relay). A node skips its own messages, so nothing is
delivered twice; it recognises them by their first bytes, without parsing them. A node whose
interest ended keeps listening for LINGER_S, so a steady trickle of sync sends or reconnecting
streams does not subscribe and unsubscribe again and again.

Why listen only then: a busy API node that took every event of every instance spent a fifth
of its CPU on events nobody there wanted, and the holders as much again publishing them
(`bench/before_after.md`, round 5).

A node with nobody else on the channel relays nothing: PUBLISH answers how many subscribers
got the message, and when that is none besides this node itself, nobody else listens. It
relays again as soon as a node starts to listen: that node announces it (a `hello` on a
second channel, which every node always listens to) once it is subscribed, before the stream
answers or the send is queued; and a node that relays nothing still asks Redis how many
subscribers the channel has (PUBSUB NUMSUB) at most every PROBE_S while it has events (a lost
hello costs at most that long of another node's live events).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import datetime
from typing import Any, Literal

import orjson
import structlog
from redis.asyncio import Redis
from redis.asyncio.client import PubSub

from wagate.events.bus import Event, EventBus
from wagate.tasks import cancel_requested, stop_tasks, wait_tasks

log = structlog.get_logger(__name__)
RETRY_S = 1.0
MAX_PENDING = 10_000  # events held while Redis is slow or down; later ones are dropped
PROBE_S = 1.0  # while alone: how often to check whether another node subscribed meanwhile
LINGER_S = 30.0  # a node keeps listening this long after its last use for the events
WANT_TIMEOUT_S = 2.0  # a stream or sync send waits at most this long for the subscription
STOP_S = 5.0


class EventRelay:
    name = "cluster relay"
    durable: Literal[False] = False

    def __init__(
        self,
        redis: Redis,
        bus: EventBus,
        node_id: str,
        prefix: str,
        linger_s: float = LINGER_S,
    ) -> None:
        self.redis = redis
        self.bus = bus
        self.node_id = node_id
        self.channel = f"{prefix}events"
        self.hello_channel = f"{prefix}events:hello"
        self.linger_s = linger_s
        self._task: asyncio.Task[None] | None = None
        self.received = 0
        # Events waiting to be relayed, and the task relaying them: one pipelined round trip
        # for all the events of a moment instead of one PUBLISH awaited per event (a tenth
        # of the node's CPU and a round trip in every sender's path, under load).
        self._pending: list[tuple[str, bytes]] = []
        self._flusher: asyncio.Task[None] | None = None
        # orjson keeps the key order: every message of this node starts with these bytes.
        self._own_prefix = orjson.dumps({"node": node_id})[:-1] + b","
        self._pubsub: PubSub | None = None
        self._subscribed = False  # to the events channel (this node listens to them)
        self._listening = False  # whether it should be (interest, or within the linger)
        self._wanted_at = 0.0
        self._subscribing = asyncio.Lock()
        self._lingerer: asyncio.Task[None] | None = None
        self._subscriber: asyncio.Task[None] | None = None
        self.alone = False  # relays until a PUBLISH shows that nobody else listens
        self._probed_at = 0.0
        self._prober: asyncio.Task[None] | None = None
        self._hellos = 0
        self._stopped = False
        self._orders: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(self.hello_channel)  # subscribed before the node serves
        self._pubsub = pubsub
        self._task = asyncio.create_task(self._listen(pubsub), name="cluster-events")

    async def want(self) -> None:
        """This node has a use for other nodes' events (a stream opens, a sync send waits):
        listen from now on. Returns once subscribed and announced, so the events that follow
        reach this node, or after WANT_TIMEOUT_S when Redis does not answer: the caller does
        not fail for it (its stream misses other nodes' events until the subscription is
        made; a sync send polls), and the subscription goes on in the background."""
        self._wanted_at = time.monotonic()
        if self._subscribed or self._stopped or self._pubsub is None:
            return
        if self._subscriber is None or self._subscriber.done():
            self._subscriber = asyncio.create_task(
                self._subscribe(), name="cluster-events-subscribe"
            )
        # Waited for, never cancelled: a cancel can be lost inside redis-py (wagate.tasks).
        await asyncio.wait({self._subscriber}, timeout=WANT_TIMEOUT_S)

    async def _subscribe(self) -> None:
        async with self._subscribing:
            if self._subscribed or self._pubsub is None:
                return
            self._listening = True
            # Started first: it also ends a subscription that the listener's retry path
            # makes later, after this attempt failed.
            if self._lingerer is None or self._lingerer.done():
                self._lingerer = asyncio.create_task(self._linger(), name="cluster-events-linger")
            try:
                await self._pubsub.subscribe(self.channel)
            except Exception as exc:
                log.warning("cluster event channel not subscribed", error=repr(exc))
                return  # the listener's retry path subscribes it again (`_listening`)
            self._subscribed = True
            await self._hello()

    async def _linger(self) -> None:
        """Stop listening once the interest is over and LINGER_S has passed since."""
        while not cancel_requested():
            idle_for = time.monotonic() - self._wanted_at
            if self.bus.interested() or idle_for < self.linger_s:
                # At most a second at a time: a changed `linger_s` applies soon.
                await asyncio.sleep(min(1.0, max(0.05, self.linger_s - idle_for)))
                continue
            async with self._subscribing:
                if self.bus.interested() or time.monotonic() - self._wanted_at < self.linger_s:
                    continue
                self._listening = False
                self._subscribed = False
                if self._pubsub is not None:
                    with contextlib.suppress(Exception):
                        await self._pubsub.unsubscribe(self.channel)
            return

    async def _hello(self) -> None:
        """Tell the nodes that relay nothing (being alone) that someone listens now."""
        try:
            await self.redis.publish(
                self.hello_channel, orjson.dumps({"node": self.node_id, "hello": True})
            )
        except Exception as exc:  # they find this node at their next probe
            log.warning("cluster hello not published", error=repr(exc))

    async def end_streams(self, instance: str, *, admin_too: bool) -> None:
        """Order every other node to end the instance's streams (EventBus.end_streams). Sent
        on the hello channel, which every node listens to from its start, whatever its
        interest in events (a node that streams but has not subscribed yet gets it too), and
        whether or not this node thinks it is alone. Pub/sub can lose it (Redis down): then
        such a stream lasts until its maximum lifetime (WAGATE_SSE_MAX_LIFETIME_S)."""
        if self._stopped:
            return
        order = {"node": self.node_id, "end_streams": instance, "admin_too": admin_too}
        task = asyncio.create_task(self._order(instance, orjson.dumps(order)))
        self._orders.add(task)  # held until done: the loop keeps only a weak reference
        task.add_done_callback(self._orders.discard)
        # Waited for, never cancelled (a cancel can be lost inside redis-py: wagate.tasks):
        # a Redis that does not answer delays the API call at most this long.
        await asyncio.wait({task}, timeout=WANT_TIMEOUT_S)

    async def _order(self, instance: str, raw: bytes) -> None:
        try:
            await self.redis.publish(self.hello_channel, raw)
        except Exception as exc:
            log.warning("streams not ended on other nodes", instance=instance, error=repr(exc))

    async def stop(self) -> None:
        self._stopped = True  # events published from now on are not relayed
        # The events of the moment go out; a Redis that does not answer is not waited for.
        pending = [task for task in (self._flusher, self._prober) if task is not None]
        await wait_tasks(pending, STOP_S, "cluster event relay")
        listeners = [
            task for task in (self._task, self._lingerer, self._subscriber) if task is not None
        ]
        await stop_tasks(listeners, STOP_S, "cluster event listener")
        await self.redis.aclose()

    def accepts(self, event: Event) -> bool:
        return not self._stopped  # events published from the stop on are not relayed

    def offer(self, event: Event) -> None:
        if self.alone:
            # Nobody else listens: nothing to relay; check again now and then.
            if time.monotonic() - self._probed_at >= PROBE_S and (
                self._prober is None or self._prober.done()
            ):
                self._probed_at = time.monotonic()
                self._prober = asyncio.create_task(self._probe(), name="cluster-events-probe")
            return
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
                hellos = self._hellos
                async with self.redis.pipeline(transaction=False) as pipe:
                    for _, raw in batch:
                        pipe.publish(self.channel, raw)
                    receivers = await pipe.execute()
                if hellos == self._hellos:  # else a node appeared after these counts
                    self._count_others(min(receivers))
            except Exception as exc:
                # Live streams on other nodes miss these events; the holder's own path (and
                # the webhooks, written before) must not fail for it.
                log.warning(
                    "cluster events not relayed",
                    count=len(batch),
                    instance=batch[0][0],
                    error=repr(exc),
                )

    def _count_others(self, subscribers: int) -> None:
        """Subscribers of the channel (as PUBLISH or NUMSUB counted them), this node among
        them while it is subscribed: alone when none is left besides."""
        alone = subscribers - (1 if self._subscribed else 0) <= 0
        if alone and not self.alone:
            self._probed_at = time.monotonic()
        self.alone = alone

    async def _probe(self) -> None:
        hellos = self._hellos
        try:
            counts = await self.redis.pubsub_numsub(self.channel)
        except Exception as exc:
            log.warning("cluster event channel not probed", error=repr(exc))
            return
        if hellos == self._hellos:
            self._count_others(int(counts[0][1]) if counts else 0)

    def _deliver(self, raw: bytes | str) -> None:
        if isinstance(raw, str):
            raw = raw.encode()
        if raw.startswith(self._own_prefix):
            return  # this node's own event (or hello) back from the channel
        item: dict[str, Any] = orjson.loads(raw)
        if item.get("node") == self.node_id:
            return
        if item.get("hello"):
            self._hellos += 1
            self.alone = False  # another node listens from now on
            return
        if "end_streams" in item:
            self.bus.end_streams_here(str(item["end_streams"]), admin_too=bool(item["admin_too"]))
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
            ),
            origin=self,
        )

    async def _listen(self, pubsub: PubSub) -> None:
        try:
            # Ends on cancel even when a Redis call swallowed the CancelledError (wagate.tasks).
            while not cancel_requested():
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
                except Exception as exc:
                    if cancel_requested():
                        return
                    log.warning("cluster event channel lost; resubscribing", error=repr(exc))
                self._subscribed = False
                self.alone = False  # counts cannot be trusted meanwhile: relay everything
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
                await asyncio.sleep(RETRY_S)
                pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
                async with self._subscribing:
                    self._pubsub = pubsub
                    channels = [self.hello_channel]
                    if self._listening:
                        channels.append(self.channel)
                    try:
                        await pubsub.subscribe(*channels)
                    except Exception as exc:
                        log.warning("cluster event channel not resubscribed", error=repr(exc))
                        continue  # listen() returns at once unsubscribed: the retry path
                    if self._listening:
                        self._subscribed = True
                        await self._hello()  # others went quiet while this node was away
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()  # type: ignore[no-untyped-call]
