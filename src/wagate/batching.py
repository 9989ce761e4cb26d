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
    def __init__(self, flush: Flush[T, R], *, max_batch: int = 500) -> None:
        """`flush` writes a batch in one transaction and returns one result per item, in order.

        One flush is in flight at a time: on the accept path, three in flight were measured
        against one and made smaller batches, fewer messages/s and a worse p99
        (docs/performance.md)."""
        self._flush = flush
        self._max_batch = max_batch
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._task: asyncio.Task[None] | None = None
        self._alone = 0  # after a failed batch, its items are retried one by one
        self._in_flight: list[tuple[T, asyncio.Future[R]]] = []  # drain fails these if stuck

    async def __call__(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="group-commit")
        return await future

    async def _run(self) -> None:
        while self._pending:
            size = 1 if self._alone else self._max_batch
            self._alone = max(0, self._alone - 1)
            batch = self._pending[:size]
            del self._pending[:size]
            self._in_flight = batch
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
                self._in_flight = []
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
        """Shutdown: let the flush in flight (and what is queued behind it) finish, for at most
        `timeout_s`; then it is cancelled, which fails every waiter (nobody waits forever)."""
        if self._task is not None and not self._task.done():
            await wait_tasks([self._task], timeout_s, "group-commit")
        # A flush that would not stop was left behind: its callers are not.
        self._fail(self._in_flight + self._pending, Closed("shut down before it was written"))
        self._pending = []
