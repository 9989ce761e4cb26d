"""Messaging's part of the lifespan: the queue backend, the send service, the workers of this
node, the reconciler and the retention of sent messages, made at start and closed in reverse
order."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

from wagate.cluster.service import HasCluster
from wagate.history.retention import HistoryRetention, run_history_retention
from wagate.messages import repository as messages
from wagate.messages.outcomes import Outcomes
from wagate.messages.retention import BodyRetention, run_retention
from wagate.messages.service import MessageService
from wagate.node import (
    HasBus,
    HasDb,
    HasInstances,
    HasManager,
    HasMediaStore,
    HasRecentSends,
    HasSecrets,
    HasSendPolicy,
    HasSettings,
)
from wagate.queue.base import Queue
from wagate.queue.local import LocalQueue
from wagate.queue.redis_streams import RedisStreamsQueue
from wagate.tasks import stop_tasks
from wagate.worker.pool import WorkerPool
from wagate.worker.reconciler import run_reconciler


class MessagingNode(
    HasBus,
    HasCluster,
    HasDb,
    HasInstances,
    HasManager,
    HasMediaStore,
    HasRecentSends,
    HasSecrets,
    HasSendPolicy,
    HasSettings,
    Protocol,
):
    """What the messaging takes of the node: what the send service, the senders and the
    reconciler (which sweeps the media store) use. The app keeps the messaging it returns."""


def build_queue(state: MessagingNode) -> Queue:
    settings = state.settings
    if settings.redis_url:
        return RedisStreamsQueue(
            settings.redis_url,
            settings.queue_key_prefix,
            settings.node_id,
            settings.queue_claim_idle_ms,
        )
    return LocalQueue(state.db, messages.open_ids)


RECONCILER_STOP_S = 5.0


@dataclass
class Messaging:
    queue: Queue
    service: MessageService
    pool: WorkerPool | None
    reconciler: asyncio.Task[None]
    retention: asyncio.Task[None] | None = None
    history_retention: asyncio.Task[None] | None = None

    async def close(self) -> None:
        await stop_tasks([self.reconciler], RECONCILER_STOP_S, "reconciler")
        if self.retention is not None:
            await stop_tasks([self.retention], RECONCILER_STOP_S, "message body retention")
        if self.history_retention is not None:
            await stop_tasks([self.history_retention], RECONCILER_STOP_S, "history retention")
        if self.pool is not None:
            await self.pool.close()
        # Sends accepted meanwhile are committed (or fail their callers) before the queue goes.
        await self.service.close()
        await self.queue.close()


async def start_messaging(state: MessagingNode) -> Messaging:
    queue = build_queue(state)
    await queue.start()
    outcomes = Outcomes(state.db, state.settings.sync_poll_interval_s)
    state.bus.watch(outcomes.on_event, "sync-send outcomes")
    state.bus.add_interest(lambda: outcomes.waiting)  # the relay listens while callers wait
    service = MessageService(state, queue, outcomes)
    pool = None
    if state.settings.role == "all":
        pool = WorkerPool(state, queue, outcomes)
        service.on_enqueued.append(pool.ensure)
        pool.start()
    reconciler = asyncio.create_task(run_reconciler(state, service), name="reconciler")
    retention = asyncio.create_task(
        run_retention(BodyRetention(state.db, state.settings.message_body_retention_s)),
        name="message-body-retention",
    )
    history_retention = asyncio.create_task(
        run_history_retention(HistoryRetention(state.db)), name="history-retention"
    )
    return Messaging(queue, service, pool, reconciler, retention, history_retention)
