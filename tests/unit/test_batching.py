"""GroupCommit: concurrent callers share flushes, each gets its own result or its own error."""

from __future__ import annotations

import asyncio

import pytest

from wagate.batching import GroupCommit


class Recorder:
    def __init__(self, bad: set[int] | None = None, delay: float = 0.01) -> None:
        self.batches: list[list[int]] = []
        self.bad = bad or set()
        self.delay = delay

    async def __call__(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        await asyncio.sleep(self.delay)
        if self.bad & set(items):
            raise ValueError(f"bad item in {items}")
        return [item * 10 for item in items]


async def test_concurrent_callers_share_one_flush_and_get_their_own_result() -> None:
    flush = Recorder()
    commit: GroupCommit[int, int] = GroupCommit(flush)
    results = await asyncio.gather(*(commit(n) for n in range(50)))
    assert results == [n * 10 for n in range(50)]
    assert flush.batches == [list(range(50))]


async def test_items_arriving_during_a_flush_go_in_the_next_one() -> None:
    flush = Recorder(delay=0.05)
    commit: GroupCommit[int, int] = GroupCommit(flush)
    first = asyncio.ensure_future(commit(1))
    await asyncio.sleep(0.01)  # the first flush is in flight
    later = await asyncio.gather(*(commit(n) for n in (2, 3, 4)))
    assert await first == 10
    assert later == [20, 30, 40]
    assert flush.batches == [[1], [2, 3, 4]]


async def test_batches_are_capped() -> None:
    flush = Recorder()
    commit: GroupCommit[int, int] = GroupCommit(flush, max_batch=4)
    await asyncio.gather(*(commit(n) for n in range(10)))
    assert [len(b) for b in flush.batches] == [4, 4, 2]


async def test_a_bad_item_fails_alone() -> None:
    flush = Recorder(bad={3})
    commit: GroupCommit[int, int] = GroupCommit(flush)
    results = await asyncio.gather(*(commit(n) for n in range(6)), return_exceptions=True)
    assert [r for i, r in enumerate(results) if i != 3] == [0, 10, 20, 40, 50]
    assert isinstance(results[3], ValueError)
    # The failed batch was retried item by item, in order.
    assert flush.batches == [[0, 1, 2, 3, 4, 5], [0], [1], [2], [3], [4], [5]]


async def test_a_cancelled_flush_cancels_its_waiters_instead_of_hanging_them() -> None:
    flush = Recorder(delay=10)
    commit: GroupCommit[int, int] = GroupCommit(flush)
    waiters = [asyncio.ensure_future(commit(n)) for n in range(3)]
    await asyncio.sleep(0.01)
    assert commit._task is not None
    commit._task.cancel()
    for waiter in waiters:
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(waiter, 1)


async def test_an_item_added_as_the_last_flush_ends_is_still_written() -> None:
    """The end of a flush task and the next call must not leave an item without a writer."""
    flush = Recorder(delay=0)
    commit: GroupCommit[int, int] = GroupCommit(flush)
    for n in range(200):
        # Calls spread over loop turns, so that some land just as a flush task finishes.
        assert await asyncio.wait_for(commit(n), 1) == n * 10
        if n % 3 == 0:
            await asyncio.sleep(0)
    assert commit._task is None or commit._task.done()
