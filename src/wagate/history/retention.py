"""How long the history keeps messages: `history_retention_days` per instance (default 90).

Each run deletes, instance by instance, the messages older than the instance's retention, in
batches of BATCH rows on the (instance, timestamp) index, so that no run holds a long lock or
a long transaction; a backlog (the first run after the setting went down) is spread over runs.
With 0 days the history keeps only the messages wagate sent itself (they mirror its send
records, which have their own retention, docs/messages.md). The chats stay, with their last
message's summary; a message's media goes with it (wagate.media_store.refs: the sweep deletes
an object no row refers to any more). Every node runs it; a delete is idempotent, so two nodes
at once only do the work twice.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import structlog

from wagate.db import Database, utcnow
from wagate.history.repository import retention as repository
from wagate.history.repository import store
from wagate.instances.schemas import InstanceSettings
from wagate.tasks import cancel_requested

log = structlog.get_logger(__name__)
BATCH = 500
MAX_BATCHES = 20  # per instance and run
INTERVAL_S = 300.0  # the retention is days long: minutes late is nothing
DEFAULT_DAYS: int = InstanceSettings.model_fields["history_retention_days"].default
FOREVER = timedelta(days=36_500)
# How long an edit or revoke waits for its message to be kept: the write it raced lands within
# seconds; one whose message never comes (older than the history) is forgotten.
PENDING_FOR = timedelta(hours=1)


def retention_days(settings: dict[str, Any] | None) -> int:
    return int((settings or {}).get("history_retention_days", DEFAULT_DAYS))


class HistoryRetention:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def run_once(self, now: datetime | None = None) -> int:
        """Delete what is past its instance's retention; returns how many messages."""
        now = now or utcnow()
        async with self.db.session() as session:
            found = await repository.instance_settings(session)
            instances = [(pk, retention_days(settings)) for pk, settings in found]
        deleted = 0
        for instance_id, days in instances:
            deleted += await self._instance(instance_id, days, now)
        async with self.db.transaction() as session:
            await store.forget_pending(session, now - PENDING_FOR)
        if deleted:
            log.info("history past its retention deleted", count=deleted)
        return deleted

    async def _instance(self, instance_id: int, days: int, now: datetime) -> int:
        # 0 days: nothing is kept but the own sends, however recent.
        cutoff = now + FOREVER if days == 0 else now - timedelta(days=days)
        deleted = 0
        for _ in range(MAX_BATCHES):
            async with self.db.transaction() as session:
                count = await repository.delete_due(
                    session, instance_id, cutoff, keep_own=days == 0, limit=BATCH
                )
            deleted += count
            if count < BATCH:
                break
        return deleted


async def run_history_retention(
    retention: HistoryRetention, interval_s: float = INTERVAL_S
) -> None:
    # Ends on cancel even when a database call swallowed the CancelledError (wagate.tasks).
    while not cancel_requested():
        await asyncio.sleep(interval_s)
        try:
            await retention.run_once()
        except Exception as exc:
            log.warning("history retention failed", error=str(exc))
