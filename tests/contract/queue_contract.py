"""The contract of `wagate.queue.base.Queue`, run against every backend directly (no app).

`QueueContract` holds the tests; a backend's test class subclasses it and provides the
`harness` fixture (a `QueueHarness`), as tests/contract/test_queue.py does for the embedded
queue and Redis Streams. A promise of the protocol is one more test method here: every
backend then answers for it. What only one backend promises (Redis's idle reclaim) goes in
that backend's class.

The caller's side of the protocol is the worker's (wagate/worker/sender.py): it takes
entries, records their outcomes in the messages table, then acknowledges them. The harness
stands in for the table: `open_ids` are messages waiting to be sent, `record` their outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Sequence
from typing import Protocol

import pytest

from tests.support.polling import eventually
from wagate.queue.base import Entry, Queue

PROMPT_S = 2.0  # "at once", on a loaded two-core machine


class QueueHarness(Protocol):
    async def queue(self, consumer: str = "node-a") -> Queue:
        """A started queue of this node (`consumer`); closed when the test ends."""

    async def open_ids(self, instance: str, count: int) -> list[int]:
        """Ids of `count` new messages of the instance that wait to be sent, oldest first."""

    async def record(self, pks: Sequence[int]) -> None:
        """Their outcomes are recorded (sent): what the worker does before it acks."""

    async def peer(self, queue: Queue) -> Queue:
        """Another taker of the same streams, alive beside `queue`: another node's queue, or
        `queue` itself where the streams live in one process."""

    async def successor(self, consumer: str) -> Queue:
        """The queue of the node that holds the instances next, every queue made so far
        having died without a word (a crash, a lost lease)."""


def new_instance() -> str:
    return f"q-{uuid.uuid4().hex[:8]}"


def pks(entries: Sequence[Entry]) -> list[int]:
    return [entry.pk for entry in entries]


async def take_all(queue: Queue, instance: str, count: int, timeout: float = 10.0) -> list[Entry]:
    """Take until `count` entries came (a backend may hand them over in several takes)."""
    taken: list[Entry] = []

    async def enough() -> bool:
        taken.extend(await queue.take(instance, count - len(taken), 0.2))
        return len(taken) >= count

    await eventually(enough, timeout=timeout, what=f"{count} entries", seen=lambda: pks(taken))
    return taken


async def drain(
    harness: QueueHarness, queue: Queue, instance: str, count: int, timeout: float = 10.0
) -> list[int]:
    """Take, record and acknowledge until `count` entries came, as the worker does (it never
    takes again with entries in hand); their ids."""
    seen: list[int] = []

    async def enough() -> bool:
        entries = await queue.take(instance, count - len(seen), 0.2)
        await done(harness, queue, instance, entries)
        seen.extend(pks(entries))
        return len(seen) >= count

    await eventually(enough, timeout=timeout, what=f"{count} entries", seen=lambda: seen)
    return seen


async def done(harness: QueueHarness, queue: Queue, instance: str, entries: list[Entry]) -> None:
    await harness.record(pks(entries))
    await queue.ack(instance, entries)


class QueueContract:
    """What every queue backend promises. Subclasses provide the `harness` fixture."""

    @pytest.fixture
    def harness(self) -> QueueHarness:
        raise NotImplementedError("a backend's test class provides the harness")

    # --- order and separation ------------------------------------------------------------

    async def test_entries_come_in_the_order_they_were_enqueued(
        self, harness: QueueHarness
    ) -> None:
        queue = await harness.queue()
        instance = new_instance()
        ids = await harness.open_ids(instance, 8)
        await queue.enqueue(instance, ids[:5])
        await queue.enqueue(instance, ids[5:])
        taken = await take_all(queue, instance, 8)
        assert pks(taken) == ids
        assert {entry.instance for entry in taken} == {instance}
        assert len({entry.token for entry in taken}) == 8  # each entry its own handle

    async def test_take_gives_at_most_count_and_the_rest_later(self, harness: QueueHarness) -> None:
        queue = await harness.queue()
        instance = new_instance()
        ids = await harness.open_ids(instance, 5)
        await queue.enqueue(instance, ids)
        first = await queue.take(instance, 2, 1.0)
        assert pks(first) == ids[:2]
        rest = await take_all(queue, instance, 3)
        assert pks(rest) == ids[2:]

    async def test_instances_have_separate_streams(self, harness: QueueHarness) -> None:
        queue = await harness.queue()
        one, two = new_instance(), new_instance()
        ids_one = await harness.open_ids(one, 3)
        ids_two = await harness.open_ids(two, 2)
        await queue.enqueue_many({one: ids_one[:2], two: ids_two})
        await queue.enqueue_many({one: ids_one[2:]})
        assert pks(await take_all(queue, two, 2)) == ids_two
        assert pks(await take_all(queue, one, 3)) == ids_one
        assert await queue.take(two, 10, 0.1) == []

    async def test_enqueue_of_nothing_is_harmless(self, harness: QueueHarness) -> None:
        queue = await harness.queue()
        instance = new_instance()
        await queue.enqueue(instance, [])
        await queue.enqueue_many({instance: []})
        await queue.ack(instance, [])
        assert await queue.take(instance, 10, 0.1) == []
        assert await queue.contained(instance) == set()

    # --- waiting ---------------------------------------------------------------------------

    async def test_an_empty_take_returns_nothing_after_its_timeout(
        self, harness: QueueHarness
    ) -> None:
        queue = await harness.queue()
        started = time.monotonic()
        assert await queue.take(new_instance(), 10, 0.3) == []
        assert time.monotonic() - started < 0.3 + PROMPT_S

    async def test_a_waiting_take_wakes_when_an_entry_comes(self, harness: QueueHarness) -> None:
        queue = await harness.queue()
        instance = new_instance()
        ids = await harness.open_ids(instance, 1)
        waiting = asyncio.create_task(queue.take(instance, 10, 30.0))
        await asyncio.sleep(0.2)
        started = time.monotonic()
        await queue.enqueue(instance, ids)
        taken = await asyncio.wait_for(waiting, 30)
        assert pks(taken) == ids
        assert time.monotonic() - started < PROMPT_S

    async def test_interrupt_ends_a_waiting_take_or_the_next_one(
        self, harness: QueueHarness
    ) -> None:
        """A sender waits long on its queue; its stop (or its instance leaving the node) ends
        the wait at once, and the take returns nothing, even with entries queued."""
        queue = await harness.queue()
        instance, other = new_instance(), new_instance()
        waiting = asyncio.create_task(queue.take(instance, 10, 30.0))
        elsewhere = asyncio.create_task(queue.take(other, 10, 30.0))
        await asyncio.sleep(0.2)
        started = time.monotonic()
        queue.interrupt(instance)
        assert await asyncio.wait_for(waiting, 30) == []
        assert time.monotonic() - started < PROMPT_S
        assert not elsewhere.done()  # the other instance's take still waits
        elsewhere.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await elsewhere
        # Interrupted while not waiting: the next take ends at once and takes nothing.
        ids = await harness.open_ids(instance, 2)
        await queue.enqueue(instance, ids)
        queue.interrupt(instance)
        assert await queue.take(instance, 10, 30.0) == []
        assert pks(await take_all(queue, instance, 2)) == ids  # then they come as ever

    async def test_close_ends_a_waiting_take(self, harness: QueueHarness) -> None:
        """A take that waits when the queue closes ends at once: with no entries, or an error
        (the worker stops before the queue closes; a hang would hold up the shutdown)."""
        queue = await harness.queue()
        waiting = asyncio.create_task(queue.take(new_instance(), 10, 30.0))
        await asyncio.sleep(0.2)
        await queue.close()
        done_, _ = await asyncio.wait({waiting}, timeout=PROMPT_S)
        assert done_, "the take still waits after close()"
        if waiting.exception() is None:
            assert waiting.result() == []

    # --- claims: one consumer per entry, nothing lost ------------------------------------

    async def test_no_entry_goes_to_two_takers(self, harness: QueueHarness) -> None:
        queue = await harness.queue()
        other = await harness.peer(queue)
        instance = new_instance()
        ids = await harness.open_ids(instance, 40)
        seen: list[list[int]] = [[], []]

        async def taker(index: int, q: Queue) -> None:
            while sum(map(len, seen)) < len(ids):
                seen[index].extend(pks(await q.take(instance, 3, 0.2)))

        takers = [asyncio.create_task(taker(i, q)) for i, q in enumerate((queue, other))]
        for start in range(0, len(ids), 10):
            await queue.enqueue(instance, ids[start : start + 10])
            await asyncio.sleep(0.01)
        await asyncio.wait_for(asyncio.gather(*takers), 20)
        assert sorted(seen[0] + seen[1]) == ids  # each once, none lost
        for part in seen:
            assert part == sorted(part)  # and each taker got them in order

    async def test_contained_holds_what_is_queued_or_in_flight(self, harness: QueueHarness) -> None:
        queue = await harness.queue()
        instance = new_instance()
        ids = await harness.open_ids(instance, 3)
        await queue.enqueue(instance, ids)
        assert await queue.contained(instance) == set(ids)
        taken = await queue.take(instance, 2, 1.0)
        assert await queue.contained(instance) == set(ids)  # taken, not yet acknowledged
        await done(harness, queue, instance, taken)
        assert await queue.contained(instance) == set(ids) - set(pks(taken))

    async def test_depth_counts_every_instance_and_ends_at_zero(
        self, harness: QueueHarness
    ) -> None:
        queue = await harness.queue()
        one, two = new_instance(), new_instance()
        ids_one, ids_two = await harness.open_ids(one, 3), await harness.open_ids(two, 2)
        await queue.enqueue_many({one: ids_one, two: ids_two})
        assert await queue.depth() == 5
        for instance, count in ((one, 3), (two, 2)):
            await done(harness, queue, instance, await take_all(queue, instance, count))
        assert await queue.depth() == 0

    async def test_unacknowledged_entries_go_to_the_next_holder_in_order(
        self, harness: QueueHarness
    ) -> None:
        queue = await harness.queue()
        instance = new_instance()
        ids = await harness.open_ids(instance, 6)
        await queue.enqueue(instance, ids[:4])
        taken = await take_all(queue, instance, 4)
        await done(harness, queue, instance, taken[:2])  # the holder dies with two in hand
        await queue.enqueue(instance, ids[4:])

        successor = await harness.successor("node-b")
        await successor.adopt(instance)
        assert await drain(harness, successor, instance, 4) == ids[2:]
        assert await successor.contained(instance) == set()

    async def test_adopt_gives_back_what_this_node_left_unacknowledged(
        self, harness: QueueHarness
    ) -> None:
        """A sender whose step failed after its take (a database error) leaves its entries
        unacknowledged; when it adopts the instance again (reconnect) they come first."""
        queue = await harness.queue()
        instance = new_instance()
        ids = await harness.open_ids(instance, 4)
        await queue.enqueue(instance, ids)
        assert pks(await take_all(queue, instance, 2)) == ids[:2]
        await queue.adopt(instance)
        assert await drain(harness, queue, instance, 4, timeout=3.0) == ids

    # --- the rest of the interface ---------------------------------------------------------

    async def test_dead_letter_is_accepted(self, harness: QueueHarness) -> None:
        queue = await harness.queue()
        instance = new_instance()
        [pk] = await harness.open_ids(instance, 1)
        await queue.dead_letter(instance, pk, "the recipient is not on WhatsApp")

    async def test_health_is_ok(self, harness: QueueHarness) -> None:
        queue = await harness.queue()
        assert await queue.health() == "ok"
