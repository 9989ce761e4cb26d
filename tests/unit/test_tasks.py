"""Stopping tasks within a bound, also those that swallow a cancellation."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import MutableMapping
from typing import Any

import pytest
import structlog

from wagate import tasks
from wagate.batching import Closed, GroupCommit
from wagate.tasks import bounded, cancel_requested, stop_tasks


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> list[MutableMapping[str, Any]]:
    """What `wagate.tasks` logs during the test. Its module logger is swapped for a capturing
    one: `structlog.testing.capture_logs` misses a logger the app's logging set-up (run by an
    earlier test) has cached on first use."""
    capture = structlog.testing.LogCapture()
    monkeypatch.setattr(tasks, "log", structlog.wrap_logger(None, processors=[capture]))
    return capture.entries


async def swallows_once(stopped: asyncio.Event) -> None:
    """Goes on after its first cancellation, as a task does whose CancelledError was lost in
    a library (Python 3.11's wait_for, under redis-py)."""
    swallowed = False
    try:
        while True:
            try:
                await asyncio.sleep(1)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed = True
    finally:
        stopped.set()


async def test_stop_tasks_cancels_again_a_task_that_went_on() -> None:
    stopped = asyncio.Event()
    task = asyncio.create_task(swallows_once(stopped))
    await asyncio.sleep(0)
    assert await stop_tasks([task], 5, "test")
    assert task.cancelled() and stopped.is_set()


async def test_stop_tasks_gives_up_on_a_task_that_will_not_stop(
    logs: list[MutableMapping[str, Any]],
) -> None:
    async def stubborn() -> None:
        while True:
            try:
                await asyncio.sleep(1)
            except asyncio.CancelledError:
                continue

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    started = asyncio.get_running_loop().time()
    assert not await stop_tasks([task], 0.5, "stubborn step")
    assert asyncio.get_running_loop().time() - started < 2
    assert [e["step"] for e in logs if e["log_level"] == "warning"] == ["stubborn step"]
    task.get_coro().close()  # type: ignore[union-attr]


async def test_a_loop_ends_on_cancel_requested_after_a_swallowed_cancellation() -> None:
    rounds = 0

    async def loop() -> None:
        nonlocal rounds
        while not cancel_requested():
            rounds += 1
            with contextlib.suppress(asyncio.CancelledError):  # lost, as in a library
                await asyncio.sleep(0.01)

    task = asyncio.create_task(loop())
    await asyncio.sleep(0.05)
    task.cancel()  # once
    await asyncio.wait_for(task, 1)
    assert rounds >= 1


async def test_bounded_names_a_step_that_overran_and_goes_on(
    logs: list[MutableMapping[str, Any]],
) -> None:
    await bounded("stuck step", asyncio.get_running_loop().create_future(), 0.1)

    async def fails() -> None:
        raise RuntimeError("boom")

    await bounded("failing step", fails(), 1)
    events = [(e["event"], e["step"]) for e in logs]
    assert ("shutdown step timed out; going on", "stuck step") in events
    assert ("shutdown step failed; going on", "failing step") in events


async def test_drain_fails_the_waiters_of_a_flush_that_never_ends() -> None:
    async def flush(items: list[int]) -> list[int]:
        await asyncio.get_running_loop().create_future()  # a database that never answers
        return items

    commit: GroupCommit[int, int] = GroupCommit(flush)
    callers = [asyncio.create_task(commit(n)) for n in range(3)]
    await asyncio.sleep(0.01)
    await commit.drain(0.1)
    results = await asyncio.wait_for(asyncio.gather(*callers, return_exceptions=True), 1)
    assert all(isinstance(r, asyncio.CancelledError | Closed) for r in results), results


@pytest.mark.parametrize("delay", [0.0, 0.05])
async def test_drain_lets_a_flush_in_flight_finish(delay: float) -> None:
    async def flush(items: list[int]) -> list[int]:
        await asyncio.sleep(delay)
        return [item * 2 for item in items]

    commit: GroupCommit[int, int] = GroupCommit(flush)
    callers = [asyncio.create_task(commit(n)) for n in range(3)]
    await asyncio.sleep(0)
    await commit.drain(1)
    assert [await c for c in callers] == [0, 2, 4]
