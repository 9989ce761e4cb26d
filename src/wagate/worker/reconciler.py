"""The reconciler: the table is the record, the queue only the signal. Messages that are open
in the table but missing from the queue (Redis flushed or restarted without persistence) are
enqueued again; the worker skips duplicates that turn out to be final already."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import timedelta
from typing import Protocol

import structlog

from wagate.cluster.runtime import ClusterNode
from wagate.cluster.service import HasCluster
from wagate.db import utcnow
from wagate.media_store.refs import sweep
from wagate.messages import repository
from wagate.messages.service import MessageService
from wagate.node import HasDb, HasMediaStore, HasSettings
from wagate.tasks import cancel_requested

log = structlog.get_logger(__name__)


class ReconcilerNode(HasCluster, HasDb, HasMediaStore, HasSettings, Protocol):
    """What the reconciler reads of the node. The cluster is read on every round: the node
    starts it after its messaging."""


def _instances_to_check(state: HasCluster) -> set[int] | None:
    """The instances whose queues this node reconciles: on a cluster those it holds (their
    holder reads their streams; an API node holds none), alone every one (None). An instance
    nobody holds is checked by the node that takes it, before it sends anything."""
    cluster = state.cluster
    if isinstance(cluster, ClusterNode):
        return set(cluster.ownership.held())
    return None


async def reconcile_once(state: ReconcilerNode, service: MessageService) -> int:
    """Enqueue what the queue lost; returns how many message ids were added back."""
    settings = state.settings
    older_than = utcnow() - timedelta(seconds=settings.reconcile_grace_s)
    instances = _instances_to_check(state)
    rows: list[tuple[str, int]] = []
    if instances is None or instances:
        async with state.db.session() as session:
            rows = await repository.open_ids(session, older_than=older_than, instance_ids=instances)
    by_instance: dict[str, list[int]] = defaultdict(list)
    for instance, pk in rows:
        by_instance[instance].append(pk)
    added = 0
    for instance, pks in by_instance.items():
        present = await service.queue.contained(instance)
        missing = [pk for pk in pks if pk not in present]
        if missing:
            log.warning(
                "re-enqueueing messages missing from the queue",
                instance=instance,
                count=len(missing),
            )
            await service.enqueue(instance, missing)
            added += len(missing)
    async with state.db.transaction() as session:
        await repository.purge_expired(
            session, utcnow() - timedelta(seconds=settings.idempotency_ttl_s)
        )
    # The media store's objects that no row refers to any more (expired received media).
    await sweep(state.db, state.media, settings.media_sweep_grace_s)
    await service.queue.depth()
    return added


async def run_reconciler(state: ReconcilerNode, service: MessageService) -> None:
    # Ends on cancel even when a Redis call swallowed the CancelledError (wagate.tasks).
    while not cancel_requested():
        await asyncio.sleep(state.settings.reconcile_interval_s)
        try:
            await reconcile_once(state, service)
        except Exception as exc:
            log.warning("reconcile failed", error=str(exc))
