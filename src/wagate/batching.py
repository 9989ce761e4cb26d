"""Group commit: many concurrent callers, one transaction.

Each caller hands in one item and awaits its own result; items that arrive while a flush is in
flight (or in the same event-loop turn) are written together by the next flush. An idle caller
waits no longer than one loop turn, and a busy system pays one round trip per batch instead of
one per item, while every caller still returns only once its item is durable.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

from wagate.tasks import wait_tasks

T = TypeVar("T")
R = TypeVar("R")

Flush = Callable[[list[T]], Awaitable[Sequence[R]]]
DRAIN_S = 10.0


class Closed(RuntimeError):
    """The group commit was drained (shutdown) before this item was written."""


class GroupCommit(Generic[T, R]):
    def __init__(self, flush: Flush[T, R], *, max_batch: int = 500, flushes: int = 1) -> None:
        """`flush` writes a batch in one transaction and returns one result per item, in order.

        `flushes` > 1 lets that many batches be in flight at once: while one waits for the
        database, the next is already written, so a caller waits for about one round trip
        instead of the rest of a batch before its own. Callers that are concurrent have no
        order among them anyway; one that waits for its answer before the next call still
        has its items written in that order."""
        self._flush = flush
        self._max_batch = max_batch
        self._flushes = flushes
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._alone = 0  # after a failed batch, its items are retried one by one
        # The batch each flush task is writing (drain fails them if the task will not stop).
        self._in_flight: dict[asyncio.Task[None], list[tuple[T, asyncio.Future[R]]]] = {}

    async def __call__(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if len(self._tasks) < self._flushes:
            self._tasks.add(asyncio.create_task(self._run(), name="group-commit"))
        return await future

    async def _run(self) -> None:
        try:
            await self._flush_pending()
        finally:
            # Synchronously with the end of the loop above (not in a done callback, which runs
            # a turn later): an item added meanwhile would otherwise find no task to write it.
            task = asyncio.current_task()
            assert task is not None
            self._tasks.discard(task)
            self._in_flight.pop(task, None)

    async def _flush_pending(self) -> None:
        while self._pending:
            size = 1 if self._alone else self._max_batch
            self._alone = max(0, self._alone - 1)
            batch = self._pending[:size]
            del self._pending[:size]
            task = asyncio.current_task()
            assert task is not None
            self._in_flight[task] = batch
            try:
                results = await self._flush([item for item, _ in batch])
            except Exception as exc:
                if len(batch) == 1:
                    self._fail(batch, exc)
                    continue
                # One bad item (say, of an instance deleted meanwhile) must not fail the others.
                self._pending[:0] = batch
                self._alone = len(batch)
                continue
            except BaseException as exc:  # cancelled: nobody may wait forever
                self._fail(batch + self._pending, exc)
                self._pending = []
                raise
            finally:
                self._in_flight.pop(task, None)
            for (_, future), result in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(result)

    @staticmethod
    def _fail(batch: list[tuple[T, asyncio.Future[R]]], exc: BaseException) -> None:
        for _, future in batch:
            if future.done():
                continue
            if isinstance(exc, asyncio.CancelledError):
                future.cancel()
            else:
                future.set_exception(exc)

    async def drain(self, timeout_s: float = DRAIN_S) -> None:
        """Shutdown: let the flushes in flight (and what is queued behind them) finish, for at
        most `timeout_s`; then they are cancelled, which fails every waiter (nobody waits
        forever)."""
        running = [task for task in self._tasks if not task.done()]
        if running:
            await wait_tasks(running, timeout_s, "group-commit")
        # A flush that would not stop was left behind: its callers are not.
        stuck = [entry for batch in self._in_flight.values() for entry in batch]
        self._fail(stuck + self._pending, Closed("shut down before it was written"))
        self._pending = []
