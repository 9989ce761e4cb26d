"""What is kept of a sent message, and for how long.

- Media bytes of a send (`outgoing_media`) are only there for the worker that sends it. They
  are deleted in the transaction that records the message sent; a failed send keeps them
  while it is a dead letter (POST /dead-letters/{id}/retry sends it again) and loses them when
  it leaves the dead-letter queue (DELETE /dead-letters/{id}).
- The body (text, caption, payload) of a final message (sent, delivered, read; failed and no
  longer a dead letter) is blanked once the message is older than
  `WAGATE_MESSAGE_BODY_RETENTION_S`; the record (id, correlation id, status, times,
  recipient, error) stays, so GET /messages/{correlation_id} still answers.

The job walks the table in primary-key order from a mark kept in memory, in batches: ids
grow with creation time, so it stops at the first message still inside the retention, and
each run reads only what is new since the last (a restart walks the table once). A message
past the retention that is not done yet (still being sent, or a dead letter, which may be
retried or deleted) is remembered and looked at again each run until it is final and out of
the dead-letter queue (at most MAX_PENDING of them; beyond, they wait for a restart's walk).
Every node runs it; the writes are idempotent, so two nodes at once only do the work twice.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import structlog

from wagate.db import Database, utcnow
from wagate.message_status import OPEN
from wagate.messages import repository
from wagate.tasks import cancel_requested

log = structlog.get_logger(__name__)
BATCH = 500
MAX_BATCHES = 20  # per run: a long backlog (first run after a restart) is spread over runs
MAX_PENDING = 100_000
INTERVAL_S = 60.0  # the retention is days long: a minute late is nothing


class BodyRetention:
    def __init__(self, db: Database, retention_s: float) -> None:
        self.db = db
        self.retention_s = retention_s
        self.mark = 0  # every message up to this pk is blanked, or in `pending`
        self.pending: set[int] = set()

    def cutoff(self) -> datetime:
        return utcnow() - timedelta(seconds=self.retention_s)

    async def run_once(self) -> int:
        """Blank what passed its retention since the last run; returns how many."""
        cutoff = self.cutoff()
        blanked = 0
        if self.pending:
            async with self.db.session() as session:
                rows = await repository.retention_recheck(session, sorted(self.pending))
            self.pending.clear()
            blanked += await self._handle(rows)
        for _ in range(MAX_BATCHES):
            async with self.db.session() as session:
                rows = await repository.retention_batch(session, self.mark, BATCH)
            due = [row for row in rows if row[3] < cutoff]
            if due:
                blanked += await self._handle(due)
                self.mark = due[-1][0]
            # ids grow with creation time: past the first one inside the retention, all are
            if len(due) < BATCH:
                break
        if blanked:
            log.info("message bodies past their retention blanked", count=blanked)
        return blanked

    async def _handle(self, rows: list[tuple[int, str, bool, datetime]]) -> int:
        done: list[int] = []
        for pk, status, dead_lettered, _ in rows:
            if status in OPEN or dead_lettered:
                if len(self.pending) < MAX_PENDING:
                    self.pending.add(pk)
            else:
                done.append(pk)
        if done:
            async with self.db.transaction() as session:
                await repository.blank_bodies(session, done)
        return len(done)


async def run_retention(retention: BodyRetention, interval_s: float = INTERVAL_S) -> None:
    # Ends on cancel even when a database call swallowed the CancelledError (wagate.tasks).
    while not cancel_requested():
        await asyncio.sleep(interval_s)
        try:
            await retention.run_once()
        except Exception as exc:
            log.warning("message body retention failed", error=str(exc))
