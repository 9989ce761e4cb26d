"""The queue contract (tests/contract/queue_contract.py) on each backend, and what only one
backend promises."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.contract.queue_contract import (
    PROMPT_S,
    QueueContract,
    new_instance,
    pks,
    take_all,
)
from tests.support import rows
from wagate.db import Database
from wagate.message_status import MessageStatus
from wagate.messages import repository
from wagate.metrics import QUEUE_DEPTH
from wagate.queue.base import Queue
from wagate.queue.local import LocalQueue
from wagate.queue.redis_streams import RedisStreamsQueue

# --- the embedded queue ----------------------------------------------------------------------


class LocalHarness:
    """The embedded queue over a real SQLite messages table: a successor is the restarted
    process, which rebuilds its queue from the table."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.queues: list[LocalQueue] = []
        self.instances: dict[str, int] = {}

    async def queue(self, consumer: str = "node-a") -> Queue:
        queue = LocalQueue(self.db, repository.open_ids)
        await queue.start()
        self.queues.append(queue)
        return queue

    async def peer(self, queue: Queue) -> Queue:
        return queue

    async def open_ids(self, instance: str, count: int) -> list[int]:
        if instance not in self.instances:
            self.instances[instance] = await rows.add_instance(self.db, instance)
        return await rows.add_messages(self.db, self.instances[instance], count)

    async def record(self, pks: Sequence[int]) -> None:
        await rows.set_status(self.db, pks, MessageStatus.SENT)

    async def successor(self, consumer: str) -> Queue:
        for queue in self.queues:
            await queue.close()
        return await self.queue(consumer)

    async def close(self) -> None:
        for queue in self.queues:
            await queue.close()
        await self.db.close()


class TestLocalQueue(QueueContract):
    @pytest.fixture
    async def harness(self, sqlite_url: str) -> AsyncIterator[LocalHarness]:
        made = LocalHarness(Database(sqlite_url))
        try:
            yield made
        finally:
            await made.close()

    async def test_start_rebuilds_the_queue_from_the_open_messages(
        self, harness: LocalHarness
    ) -> None:
        instance = new_instance()
        ids = await harness.open_ids(instance, 4)
        await harness.record(ids[1:2])  # final: not queued again
        queue = await harness.queue()
        assert await queue.contained(instance) == {ids[0], *ids[2:]}
        assert pks(await take_all(queue, instance, 3)) == [ids[0], *ids[2:]]

    async def test_depth_is_what_waits_to_be_taken(self, harness: LocalHarness) -> None:
        """The embedded queue's depth (and its gauge) is kept as entries come and go: the
        rebuild at start, a take, an adopt giving entries back, later sends."""
        instance = new_instance()
        await harness.open_ids(instance, 3)
        queue = await harness.queue()
        assert await queue.depth() == 3
        assert len(await take_all(queue, instance, 2)) == 2
        assert await queue.depth() == 1
        await queue.adopt(instance)  # the two taken come back
        assert await queue.depth() == 3
        await queue.enqueue(instance, await harness.open_ids(instance, 2))
        assert await queue.depth() == 5
        await take_all(queue, instance, 5)
        assert await queue.depth() == 0
        assert QUEUE_DEPTH._value.get() == 0


# --- Redis Streams ---------------------------------------------------------------------------


class RedisHarness:
    """Queues of several nodes on the test Redis, under a key prefix of their own. Redis does
    not read the messages table: ids are numbers, and recording an outcome does nothing."""

    def __init__(self, url: str, claim_idle_ms: int = 60_000) -> None:
        self.url = url
        self.prefix = f"wagate-test:{uuid.uuid4().hex[:8]}:"
        self.claim_idle_ms = claim_idle_ms
        self.queues: list[RedisStreamsQueue] = []
        self._ids = itertools.count(1)

    async def queue(self, consumer: str = "node-a") -> RedisStreamsQueue:
        queue = RedisStreamsQueue(self.url, self.prefix, consumer, self.claim_idle_ms)
        await queue.start()
        self.queues.append(queue)
        return queue

    async def peer(self, queue: Queue) -> Queue:
        return await self.queue(f"peer-{len(self.queues)}")

    async def open_ids(self, instance: str, count: int) -> list[int]:
        return [next(self._ids) for _ in range(count)]

    async def record(self, pks: Sequence[int]) -> None:
        return None

    async def successor(self, consumer: str) -> Queue:
        return await self.queue(consumer)

    async def close(self) -> None:
        for queue in self.queues:
            with contextlib.suppress(Exception):  # a test may have closed it already
                await queue.close()
        client = aioredis.from_url(self.url)
        try:
            keys = [key async for key in client.scan_iter(match=f"{self.prefix}*")]
            if keys:
                await client.delete(*keys)
        finally:
            await client.aclose()


@pytest.fixture
async def redis_harness(redis_url: str) -> AsyncIterator[RedisHarness]:
    made = RedisHarness(redis_url)
    try:
        yield made
    finally:
        await made.close()


@pytest.mark.redis
class TestRedisStreamsQueue(QueueContract):
    @pytest.fixture
    def harness(self, redis_harness: RedisHarness) -> RedisHarness:
        return redis_harness

    async def test_entries_a_dead_consumer_left_are_reclaimed_once_idle(
        self, harness: RedisHarness
    ) -> None:
        harness.claim_idle_ms = 300
        dead = await harness.queue("node-a")
        instance = new_instance()
        ids = await harness.open_ids(instance, 3)
        await dead.enqueue(instance, ids)
        assert pks(await dead.take(instance, 2, 1.0)) == ids[:2]  # then node-a dies

        alive = await harness.queue("node-b")  # takes without adopting: no lease handover
        assert pks(await alive.take(instance, 10, 0.1)) == ids[2:]  # not idle long enough yet
        # Once idle long enough: looked for every claim period at first, adopted or not.
        assert pks(await take_all(alive, instance, 2, timeout=5.0)) == ids[:2]

    async def test_a_restarted_consumer_gets_its_own_pending_entries_first(
        self, harness: RedisHarness
    ) -> None:
        before = await harness.queue("node-a")
        instance = new_instance()
        ids = await harness.open_ids(instance, 4)
        await before.enqueue(instance, ids)
        assert pks(await before.take(instance, 2, 1.0)) == ids[:2]
        await before.close()

        after = await harness.queue("node-a")  # the same node name, restarted
        assert pks(await after.take(instance, 10, 1.0)) == ids[:2]

    async def test_a_vanished_stream_is_made_again(self, harness: RedisHarness) -> None:
        queue = await harness.queue()
        instance = new_instance()
        first, second = await harness.open_ids(instance, 2)
        await queue.enqueue(instance, [first])
        assert pks(await queue.take(instance, 10, 1.0)) == [first]
        await queue.redis.delete(queue.stream(instance))  # FLUSHALL, a restart without data

        assert await queue.take(instance, 10, 0.1) == []  # no error: the group is made again
        await queue.enqueue(instance, [second])
        assert pks(await take_all(queue, instance, 1)) == [second]

    async def test_dead_letters_go_to_the_dead_letter_stream(self, harness: RedisHarness) -> None:
        queue = await harness.queue()
        instance = new_instance()
        [pk] = await harness.open_ids(instance, 1)
        await queue.dead_letter(instance, pk, "x" * 2000)
        found: Any = await queue.redis.xrange(queue.dead_stream(instance))
        [(_, fields)] = found
        assert fields["pk"] == str(pk)
        assert fields["error"] == "x" * 500  # bounded

    async def test_a_take_is_not_held_up_by_another_instances_wait(
        self, harness: RedisHarness
    ) -> None:
        queue = await harness.queue()
        quiet, busy = new_instance(), new_instance()
        ids = await harness.open_ids(busy, 1)
        waiting = asyncio.create_task(queue.take(quiet, 10, 5.0))
        await asyncio.sleep(0.1)
        await queue.enqueue(busy, ids)
        started = time.monotonic()
        assert pks(await queue.take(busy, 10, 5.0)) == ids
        assert time.monotonic() - started < 2.0
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting

    async def test_waiting_takes_hold_no_redis_connection(self, harness: RedisHarness) -> None:
        """A take with nothing to take waits for the doorbell, not in a blocking read: a node's
        thousands of idle senders do not need a connection each."""
        queue = await harness.queue()
        observer = aioredis.from_url(harness.url)

        async def blocked() -> int:  # clients Redis holds in a blocking command
            return sum("b" in client["flags"] for client in await observer.client_list())

        try:
            before = await blocked()
            instances = [new_instance() for _ in range(50)]
            waiting = [asyncio.create_task(queue.take(i, 10, 30.0)) for i in instances]
            await asyncio.sleep(0.5)
            assert not any(task.done() for task in waiting)
            assert await blocked() == before
            ids = await harness.open_ids(instances[17], 1)
            await queue.enqueue(instances[17], ids)
            assert pks(await asyncio.wait_for(waiting[17], PROMPT_S)) == ids
            assert not any(task.done() for n, task in enumerate(waiting) if n != 17)
        finally:
            for task in waiting:
                task.cancel()
            await asyncio.gather(*waiting, return_exceptions=True)
            await observer.aclose()
