"""How a sync send learns its outcome: a signal from this node's worker once the outcome is
recorded; for an outcome recorded by another node's worker, its `message_ack` event relayed
through Redis (then the row is read at once); and, as a fallback only, a poll of the row."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from wagate.db import Database
from wagate.events.bus import Event
from wagate.message_status import FINAL, shown
from wagate.messages import repository
from wagate.models import Message


@dataclass(frozen=True, slots=True)
class Outcome:
    correlation_id: str
    status: str
    message_id: str | None
    sent_at: datetime | None
    error: dict[str, Any] | None
    attempts: int

    @classmethod
    def of(cls, row: Message | repository.SendRow) -> Outcome:
        status = row.status
        if isinstance(row, Message):  # a send record read back: with its receipts
            status = shown(row.status, row.delivered_at, row.read_at)
        return cls(row.correlation_id, status, row.message_id, row.sent_at, row.error, row.attempts)


class Outcomes:
    def __init__(self, db: Database, poll_interval_s: float) -> None:
        self.db = db
        self.poll_interval_s = poll_interval_s
        # With a signal expected, a poll is only a fallback (a lost relay message, a worker
        # that moved): every 1 s at the default 0.25 s, instead of 4 polls/s per waiter.
        self.fallback_poll_s = 4 * poll_interval_s
        self._waiters: dict[str, set[asyncio.Future[Outcome]]] = {}
        self._reading: set[asyncio.Task[None]] = set()

    def on_event(self, event: Event) -> None:
        """An outcome announced (here or on another node, relayed): read its row now for the
        callers waiting here. The row is committed before its `message_ack` is published."""
        if event.event != "message_ack":
            return
        correlation_id = event.data.get("correlation_id")
        if not isinstance(correlation_id, str) or correlation_id not in self._waiters:
            return
        task = asyncio.get_running_loop().create_task(self._read_now(correlation_id))
        self._reading.add(task)
        task.add_done_callback(self._reading.discard)

    async def _read_now(self, correlation_id: str) -> None:
        try:
            found = await self._poll(correlation_id)
        except Exception:
            return  # the fallback poll reads it later
        if found is not None:
            self.resolve(found)

    def resolve(self, outcome: Outcome) -> None:
        for future in self._waiters.pop(outcome.correlation_id, set()):
            if not future.done():
                future.set_result(outcome)

    @property
    def waiting(self) -> bool:
        """Whether any caller on this node waits for an outcome."""
        return bool(self._waiters)

    def waited_for(self, correlation_id: str) -> bool:
        """Whether a caller on this node waits for this message's outcome (a sync send)."""
        return correlation_id in self._waiters

    def expect(self, correlation_id: str) -> asyncio.Future[Outcome]:
        """Register a waiter before the message is queued, so that the local signal cannot
        come before it: `wait(..., expected=future)` then needs no first poll of the row."""
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(correlation_id, set()).add(future)
        return future

    def forget(self, correlation_id: str, future: asyncio.Future[Outcome]) -> None:
        waiters = self._waiters.get(correlation_id)
        if waiters is not None:
            waiters.discard(future)
            if not waiters:
                self._waiters.pop(correlation_id, None)

    async def _poll(self, correlation_id: str) -> Outcome | None:
        async with self.db.session() as session:
            row = await repository.outcome_of(session, correlation_id)
        if row is not None and row.status in FINAL:
            return Outcome.of(row)
        return None

    async def wait(
        self,
        correlation_id: str,
        timeout_s: float,
        expected: asyncio.Future[Outcome] | None = None,
    ) -> Outcome | None:
        """The final outcome, or None when `timeout_s` passes first. With `expected` (from
        `expect`, registered before the message was queued) a worker of this node signals
        the outcome directly and the row is only polled as a fallback, after a first
        interval: for an outcome recorded by another node's worker."""
        loop = asyncio.get_running_loop()
        future = expected if expected is not None else self.expect(correlation_id)
        deadline = loop.time() + timeout_s
        poll = expected is None
        try:
            while True:
                if poll:
                    found = await self._poll(correlation_id)
                    if found is not None:
                        return found
                poll = True
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return None
                interval = self.fallback_poll_s if expected is not None else self.poll_interval_s
                with contextlib.suppress(TimeoutError):
                    return await asyncio.wait_for(asyncio.shield(future), min(interval, remaining))
        finally:
            self.forget(correlation_id, future)
