"""The Redis Streams queue: one stream per instance, one consumer group, a dead-letter stream.

An entry is acknowledged (and deleted) only after its outcome is recorded; entries a dead
consumer left unacknowledged are taken over with XAUTOCLAIM once they have been idle long
enough. A flushed Redis loses only signals: the reconciler re-adds them from the table. A
taker with nothing to take waits for the doorbell (wagate.queue.doorbell), not in a blocking
read.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from wagate.metrics import QUEUE_DEPTH
from wagate.queue.base import Entry
from wagate.queue.doorbell import Doorbell
from wagate.redis_info import DRIVER_INFO

GROUP = "workers"
# KEYS: the streams; ARGV: the doorbell's channel, how many entries go to each stream, then
# every pk in that order. The bell names the streams, one per line.
ENQUEUE_SCRIPT = """
local next = #KEYS + 2
for k = 1, #KEYS do
  for _ = 1, tonumber(ARGV[k + 1]) do
    redis.call('XADD', KEYS[k], '*', 'pk', ARGV[next])
    next = next + 1
  end
end
redis.call('PUBLISH', ARGV[1], table.concat(KEYS, '\\n'))
return next - #KEYS - 2
"""
# KEYS: streams; the sum of their lengths (a missing stream counts 0).
DEPTH_SCRIPT = """
local total = 0
for _, key in ipairs(KEYS) do total = total + redis.call('XLEN', key) end
return total
"""
CLAIM_EVERY_S = 1.0
# How long a take waits before it reads again while the doorbell is not live (starting, or
# its subscription lost): the rings it would miss meanwhile.
UNRUNG_READ_S = 1.0
# Abandoned entries are looked for this many times less often once an adoption is settled.
SETTLED_CLAIM_FACTOR = 10
SCAN_CHUNK = 10_000
DEPTH_CHUNK = 1_000
# Takers hold a connection only for a command (they wait on the doorbell, not in a blocking
# read): the pool's bound is for bursts of commands, the accepts' and the senders'.
REDIS_MAX_CONNECTIONS = 5_000


class RedisStreamsQueue:
    def __init__(self, url: str, prefix: str, consumer: str, claim_idle_ms: int) -> None:
        self.redis: aioredis.Redis = aioredis.from_url(
            url,
            decode_responses=True,
            max_connections=REDIS_MAX_CONNECTIONS,
            driver_info=DRIVER_INFO,
        )
        self.prefix = prefix
        self.consumer = consumer
        self.claim_idle_ms = claim_idle_ms
        self._groups: set[str] = set()
        self._recovered: set[str] = set()
        self._last_claim: dict[str, float] = {}
        self._adopted_at: dict[str, float] = {}
        # Entries left pending are claimable after claim_idle_ms: looking once in that time is
        # enough (an instance taken over claims at once, `adopt`), and every look is a command
        # per idle instance: a node holding 10,000 spent a third of its idle CPU on them.
        self._claim_every_s = max(CLAIM_EVERY_S, claim_idle_ms / 1000)
        # The doorbell's generation at which each stream was last read empty (see _take).
        self._empty: dict[str, int] = {}
        self._known: set[str] = set()
        self._woken: set[str] = set()  # instances whose take ends before its next read
        # Instances just taken over: claim every pending entry at once (min idle 0), as
        # the instance's lease says nobody else works on it now. They are the oldest, so
        # they go first and the order survives the handover.
        self._adopting: set[str] = set()
        self._enqueue_script = self.redis.register_script(ENQUEUE_SCRIPT)
        self._depth_script = self.redis.register_script(DEPTH_SCRIPT)
        self.doorbell = Doorbell(self.redis, f"{prefix}bell")

    def stream(self, instance: str) -> str:
        return f"{self.prefix}q:{instance}"

    def dead_stream(self, instance: str) -> str:
        return f"{self.prefix}dead:{instance}"

    async def start(self) -> None:
        await self.redis.ping()

    async def close(self) -> None:
        await self.doorbell.close()
        await self.redis.aclose()

    async def _ensure_group(self, key: str) -> None:
        if key in self._groups:
            return
        try:
            await self.redis.xgroup_create(key, GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._groups.add(key)

    async def enqueue(self, instance: str, pks: Sequence[int]) -> None:
        await self.enqueue_many({instance: pks})

    async def enqueue_many(self, batches: Mapping[str, Sequence[int]]) -> None:
        # One command, one round trip: the accept path queues a whole group commit at once. A
        # script rather than a pipeline of XADDs: redis-py packs, sends and parses every
        # command of a pipeline in Python, which was a tenth of an API node's CPU.
        keys: list[str] = []
        counts: list[int] = []
        pks_in_order: list[int] = []
        for instance, pks in batches.items():
            if pks:
                self._known.add(instance)
                keys.append(self.stream(instance))
                counts.append(len(pks))
                pks_in_order.extend(pks)
        if keys:
            args: list[str | int] = [self.doorbell.channel, *counts, *pks_in_order]
            await self._enqueue_script(keys=keys, args=args)

    @staticmethod
    def _entries(instance: str, raw: Any) -> list[Entry]:
        entries = []
        for entry_id, fields in raw or ():
            if fields and "pk" in fields:
                entries.append(Entry(instance, int(fields["pk"]), entry_id))
        return entries

    @staticmethod
    def _read_reply(reply: Any) -> Any:
        """The entries of the one stream an XREADGROUP asked for (RESP2 list or RESP3 dict)."""
        if not reply:
            return []
        if isinstance(reply, dict):
            return next(iter(reply.values()))[0] if reply else []
        return reply[0][1]

    async def adopt(self, instance: str) -> None:
        self._recovered.discard(instance)
        self._adopting.add(instance)

    async def take(self, instance: str, count: int, timeout_s: float) -> list[Entry]:
        key = self.stream(instance)
        self._known.add(instance)
        try:
            await self._ensure_group(key)
            return await self._take(instance, key, count, timeout_s)
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            # The stream vanished (FLUSHALL, restart without persistence): make it again.
            self._groups.discard(key)
            return []

    async def _take(self, instance: str, key: str, count: int, timeout_s: float) -> list[Entry]:
        if instance not in self._recovered:
            # Entries this consumer name took before a restart and never acknowledged.
            reply: Any = await self.redis.xreadgroup(GROUP, self.consumer, {key: "0"}, count=count)
            entries = self._entries(instance, self._read_reply(reply))
            if entries:
                return entries
            self._recovered.add(instance)
        adopting = instance in self._adopting
        if adopting or self._claim_due(instance):
            self._last_claim[instance] = time.monotonic()
            idle = 0 if adopting else self.claim_idle_ms
            claimed: Any = await self.redis.xautoclaim(
                key, GROUP, self.consumer, idle, start_id="0-0", count=count
            )
            entries = self._entries(instance, claimed[1])
            if entries:
                return entries
            if adopting:
                self._adopting.discard(instance)
                self._adopted_at[instance] = time.monotonic()
        return await self._wait_new(instance, key, count, timeout_s)

    def _claim_due(self, instance: str) -> bool:
        """Whether to look for entries another consumer left pending. Adopting the instance
        claimed all there were; after that only a holder that lost the instance and has not
        noticed yet may take some, within moments of the takeover. So the look comes every
        claim period for two periods after the adoption, then seldom: a node holding 10,000
        instances spent a good part of its idle CPU looking."""
        now = time.monotonic()
        # A taker that never adopted the instance claimed nothing at once: its first periods
        # count as just after an adoption, so what a dead consumer left comes back soon.
        since_adoption = now - self._adopted_at.setdefault(instance, now)
        every = self._claim_every_s
        if since_adoption > 2 * every:
            every *= SETTLED_CLAIM_FACTOR
        return now - self._last_claim.get(instance, 0.0) >= every

    async def _wait_new(self, instance: str, key: str, count: int, timeout_s: float) -> list[Entry]:
        """New entries, waiting up to `timeout_s` for the doorbell when there are none."""
        bell = self.doorbell.bell(key)
        deadline = time.monotonic() + timeout_s
        while not self._was_woken(instance):
            generation = self.doorbell.generation if self.doorbell.live else None
            # The last read found the stream empty and nothing rang since, with the bell live
            # all along (a ring is lost only while it is not): an idle sender costs no command.
            if bell.is_set() or generation is None or self._empty.get(key) != generation:
                self._empty.pop(key, None)  # known again only once this read finds nothing
                bell.clear()  # before the read: a ring after it is kept for the wait
                entries = await self._read_new(instance, key, count)
                if entries:
                    return entries
                if generation is not None and generation == self.doorbell.generation:
                    self._empty[key] = generation
            left = deadline - time.monotonic()
            if left <= 0 or self.doorbell.closed:
                return []
            self.doorbell.start()
            if generation is None:
                left = min(left, UNRUNG_READ_S)
            # A ring may be for entries another taker got first: then the wait goes on.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await bell.wait()
        return []

    def interrupt(self, instance: str) -> None:
        self._woken.add(instance)
        self.doorbell.bell(self.stream(instance)).set()

    def _was_woken(self, instance: str) -> bool:
        if instance in self._woken:
            self._woken.discard(instance)
            return True
        return False

    async def _read_new(self, instance: str, key: str, count: int) -> list[Entry]:
        """Entries nobody has taken yet, without waiting for any."""
        reply = await self.redis.xreadgroup(GROUP, self.consumer, {key: ">"}, count=count)
        return self._entries(instance, self._read_reply(reply))

    async def ack(self, instance: str, entries: Sequence[Entry]) -> None:
        if not entries:
            return
        key = self.stream(instance)
        ids = [entry.token for entry in entries]
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xack(key, GROUP, *ids)
            pipe.xdel(key, *ids)
            await pipe.execute()

    async def dead_letter(self, instance: str, pk: int, error: str) -> None:
        await self.redis.xadd(
            self.dead_stream(instance), {"pk": str(pk), "error": error[:500]}, maxlen=100_000
        )

    async def contained(self, instance: str) -> set[int]:
        key = self.stream(instance)
        found: set[int] = set()
        start = "-"
        while True:
            chunk: Any = await self.redis.xrange(key, min=start, max="+", count=SCAN_CHUNK)
            for entry in self._entries(instance, chunk):
                found.add(entry.pk)
            if len(chunk) < SCAN_CHUNK:
                return found
            start = "(" + chunk[-1][0]

    async def depth(self) -> int:
        # Summed in Redis, a script call per chunk of streams: a command per stream (even
        # pipelined) cost a node holding 10,000 instances a sixth of a second of CPU a round.
        known = [self.stream(instance) for instance in self._known]
        total = 0
        for start in range(0, len(known), DEPTH_CHUNK):
            total += int(await self._depth_script(keys=known[start : start + DEPTH_CHUNK]))
        QUEUE_DEPTH.set(total)
        return total

    async def health(self) -> str:
        await self.redis.ping()
        return "ok"
