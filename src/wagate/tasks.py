"""Stopping background tasks, and shutdown steps, within a bound.

A cancelled task is not a stopped task. On Python 3.11, `asyncio.wait_for` returns normally
instead of raising a cancellation that arrives in the loop turn in which its inner operation
finishes (CPython gh-86296, fixed in 3.12), and redis-py wraps the socket write of every
command in `wait_for`: a task cancelled during a Redis call often goes on as if nothing had
happened. A loop that catches `Exception` and goes round again then never ends, and whoever
awaits it after `cancel()` waits forever (the lifespan's shutdown hung so, on the reconciler).

So: background loops also end when `cancel_requested()` says so, tasks are stopped with
`stop_tasks` (cancelled again while they go on, waited for within a bound), and each step of
the shutdown runs under `bounded` (a warning names a step that overran; the next one runs).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import Any

import structlog

log = structlog.get_logger(__name__)

RECANCEL_S = 0.2  # a task still running this long after cancel() is cancelled again
STEP_CANCEL_GRACE_S = 5.0  # an overrunning shutdown step gets this long to unwind


def cancel_requested() -> bool:
    """Whether the current task was cancelled, even if the CancelledError was swallowed on
    the way (see above): a background loop checks it each round and ends."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def stop_tasks(tasks: Iterable[asyncio.Future[Any]], timeout_s: float, what: str) -> bool:
    """Cancel the tasks and wait until they are done, cancelling again those that go on, for
    at most `timeout_s`. True when all are done; else a warning names `what` and the tasks
    still running, and they are left behind (never waited for without a bound)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    tasks = list(tasks)
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        remaining = deadline - loop.time()
        if remaining <= 0:
            break
        _, pending = await asyncio.wait(pending, timeout=min(RECANCEL_S, remaining))
    if pending:
        log.warning(
            "tasks still running after cancel; left behind",
            step=what,
            tasks=sorted(_name(task) for task in pending),
            timeout_s=timeout_s,
        )
        return False
    for task in tasks:  # their errors were of no use to anyone: the tasks were stopped
        if not task.cancelled():
            task.exception()
    return True


async def wait_tasks(tasks: Iterable[asyncio.Future[Any]], timeout_s: float, what: str) -> None:
    """Let the tasks finish by themselves for up to `timeout_s`, then stop the rest (see
    `stop_tasks`). The error of a task that failed is logged."""
    tasks = list(tasks)
    pending = {task for task in tasks if not task.done()}
    if pending:
        _, pending = await asyncio.wait(pending, timeout=timeout_s)
    if pending:
        await stop_tasks(pending, STEP_CANCEL_GRACE_S, what)
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            log.warning("task failed", step=what, task=_name(task), error=repr(task.exception()))


async def bounded(what: str, step: Awaitable[Any], timeout_s: float) -> None:
    """One step of a shutdown, for at most `timeout_s`: a step that overruns is cancelled
    (and left behind if it will not stop) and one that fails is logged; either way the
    shutdown goes on with its next step."""
    task = asyncio.ensure_future(step)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout_s)
    except BaseException:  # the shutdown itself is cancelled: so is the step
        task.cancel()
        raise
    if not done:
        log.warning("shutdown step timed out; going on", step=what, timeout_s=timeout_s)
        await stop_tasks([task], STEP_CANCEL_GRACE_S, what)
        return
    if task.cancelled():
        log.warning("shutdown step cancelled; going on", step=what)
        return
    error = task.exception()
    if error is not None:
        log.warning("shutdown step failed; going on", step=what, exc_info=error)


def _name(task: asyncio.Future[Any]) -> str:
    return task.get_name() if isinstance(task, asyncio.Task) else repr(task)
