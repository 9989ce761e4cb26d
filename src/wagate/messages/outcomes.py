"""How a sync send learns its outcome: a local signal from this node's worker, and a poll of the
row so that an outcome recorded by another node's worker is seen too."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from wagate.db import Database
from wagate.messages import repository
from wagate.messages.schemas import FINAL_STATUSES
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
    def of(cls, row: Message) -> Outcome:
        return cls(
            row.correlation_id, row.status, row.message_id, row.sent_at, row.error, row.attempts
        )


class Outcomes:
    def __init__(self, db: Database, poll_interval_s: float) -> None:
        self.db = db
        self.poll_interval_s = poll_interval_s
        self._waiters: dict[str, set[asyncio.Future[Outcome]]] = {}

    def resolve(self, outcome: Outcome) -> None:
        for future in self._waiters.pop(outcome.correlation_id, set()):
            if not future.done():
                future.set_result(outcome)

    async def _poll(self, correlation_id: str) -> Outcome | None:
        async with self.db.session() as session:
            row = await repository.outcome_of(session, correlation_id)
        if row is not None and row.status in FINAL_STATUSES:
            return Outcome.of(row)
        return None

    async def wait(self, correlation_id: str, timeout_s: float) -> Outcome | None:
        """The final outcome, or None when `timeout_s` passes first."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        self._waiters.setdefault(correlation_id, set()).add(future)
        deadline = loop.time() + timeout_s
        try:
            while True:
                found = await self._poll(correlation_id)
                if found is not None:
                    return found
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return None
                with contextlib.suppress(TimeoutError):
                    return await asyncio.wait_for(
                        asyncio.shield(future), min(self.poll_interval_s, remaining)
                    )
        finally:
            waiters = self._waiters.get(correlation_id)
            if waiters is not None:
                waiters.discard(future)
                if not waiters:
                    self._waiters.pop(correlation_id, None)
