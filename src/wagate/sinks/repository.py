"""Queries on sink_deliveries, the broker transports' outbox. Callers own the transaction.

A row is claimed only with every earlier pending row of its instance and sink: an instance's
first pending row (its head) is claimed with `SKIP LOCKED`, so that nodes claiming side by side
never take the same row, and the due rows behind it go to the node that took the head. Whoever
holds the head holds the instance's rows, and publishes them in order.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, case, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from wagate.db import Executor, any_of
from wagate.models import InstanceSinkFilter, SinkDelivery, WebhookDelivery
from wagate.repository.bulk import insert_many, update_many
from wagate.webhooks.retry import DeliveryStatus

D = SinkDelivery
F = InstanceSinkFilter
DELIVERIES = cast(Table, D.__table__)
PENDING = "pending"
DELIVERED = "delivered"


@dataclass(frozen=True, slots=True)
class Claimed:
    """A due row taken by one worker, with what it needs to publish it."""

    id: int
    event_id: str
    instance_id: int
    instance: str
    event: str
    payload: str
    attempts: int
    claim_token: str


@dataclass(frozen=True, slots=True)
class SinkStats:
    """One sink's backlog: rows not delivered yet, the oldest of them, those whose last try
    failed (waiting for their retry), and the error of the latest of those."""

    pending: int
    oldest_pending_at: datetime | None
    retrying: int
    last_error: str | None


EMPTY = SinkStats(0, None, 0, None)


def row(
    sink: str,
    *,
    event_id: str,
    instance_id: int,
    instance: str,
    event: str,
    payload: str,
    now: datetime,
) -> dict[str, Any]:
    return {
        "sink": sink,
        "event_id": event_id,
        "instance_id": instance_id,
        "instance": instance,
        "event": event,
        "payload": payload,
        "status": PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }


async def insert_rows(session: Executor, rows: Sequence[dict[str, Any]]) -> None:
    await insert_many(session, DELIVERIES, rows)


RETURNED = (D.id, D.event_id, D.instance_id, D.instance, D.event, D.payload, D.attempts)


async def claim_due(
    session: Executor, sink: str, *, now: datetime, lease_until: datetime, limit: int
) -> list[Claimed]:
    """Take up to `limit` rows of `sink`: the due heads of instances, then the due rows
    behind them (in one transaction, which the caller opens). Sorted by id: per instance, the
    order to publish them in."""
    # Each instance's first pending row, from one grouped pass over the pending rows (a
    # per-row "no earlier pending row" probe cost 50 times more on a backlog of 30,000).
    other = aliased(D)
    firsts = (
        select(func.min(other.id))
        .where(other.sink == sink, other.status == PENDING)
        .group_by(other.instance_id)
    )
    heads = (
        select(D.id)
        .where(D.id.in_(firsts), D.next_attempt_at <= now)
        .order_by(D.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    token = secrets.token_hex(16)
    taken = await _take(session, heads, token, lease_until)
    instances = sorted({item.instance_id for item in taken})
    if instances and len(taken) < limit:
        # The heads just taken are leased now (not due), so what is due behind them is
        # exactly the rest of those instances' backlog, which no other node may take.
        behind = (
            select(D.id)
            .where(
                D.sink == sink,
                D.status == PENDING,
                any_of(D.instance_id, instances),
                D.next_attempt_at <= now,
                D.id.not_in([item.id for item in taken]),
            )
            .order_by(D.id)
            .limit(limit - len(taken))
        )
        taken += await _take(session, behind, token, lease_until)
    return sorted(taken, key=lambda item: item.id)


async def _take(session: Executor, ids: Any, token: str, lease_until: datetime) -> list[Claimed]:
    statement = (
        update(D)
        .where(D.id.in_(ids.scalar_subquery()))
        .values(claim_token=token, next_attempt_at=lease_until)
        .returning(*RETURNED)
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(statement)
    return [Claimed(*found, claim_token=token) for found in result]


async def release(session: Executor, claimed: Sequence[Claimed], now: datetime) -> None:
    """Hand claimed rows back untried (their instance's earlier row failed, or the node stops):
    due at once, but behind their head, which keeps them until it is delivered."""
    for token in {item.claim_token for item in claimed}:
        ids = [item.id for item in claimed if item.claim_token == token]
        await session.execute(
            update(D)
            .where(any_of(D.id, ids), D.claim_token == token)
            .values(claim_token=None, next_attempt_at=now)
            .execution_options(synchronize_session=False)
        )


async def record_outcomes(session: Executor, outcomes: Sequence[dict[str, Any]]) -> None:
    """Write many outcomes in one statement; each lands only while its claim token holds."""
    await update_many(session, DELIVERIES, ["id", "claim_token"], outcomes, {"claim_token": None})


async def stats(session: Executor, sinks: Sequence[str]) -> dict[str, SinkStats]:
    """The backlog of each sink named, in two grouped queries on the pending rows."""
    pending = await session.execute(
        select(D.sink, func.count(), func.min(D.created_at), func.sum(_retrying()))
        .where(D.status == PENDING, D.sink.in_(list(sinks)))
        .group_by(D.sink)
    )
    errors = await _last_errors(session, sinks)
    found = dict.fromkeys(sinks, EMPTY)
    for sink, count, oldest, retrying in pending:
        found[sink] = SinkStats(count, oldest, int(retrying or 0), errors.get(sink))
    return found


def _retrying() -> Any:
    return case((D.attempts > 0, 1), else_=0)


async def _last_errors(session: Executor, sinks: Sequence[str]) -> dict[str, str]:
    """The error of each sink's most recent pending row that failed a try."""
    latest = (
        select(D.sink, func.max(D.id).label("last"))
        .where(D.status == PENDING, D.attempts > 0, D.sink.in_(list(sinks)))
        .group_by(D.sink)
        .subquery()
    )
    result = await session.execute(
        select(D.sink, D.last_error).join(
            latest, and_(D.sink == latest.c.sink, D.id == latest.c.last)
        )
    )
    return {sink: error for sink, error in result if error}


async def delete_delivered_before(session: Executor, cutoff: datetime, limit: int) -> int:
    """Delete up to `limit` delivered rows created before `cutoff`; pending rows are kept
    whatever their age."""
    old = (
        select(D.id).where(D.status == DELIVERED, D.created_at < cutoff).order_by(D.id).limit(limit)
    )
    ids = list((await session.execute(old)).scalars())
    if ids:
        await session.execute(delete(D).where(D.id.in_(ids)))
    return len(ids)


async def filters(
    session: Executor, sink: str, instance_ids: Sequence[int]
) -> dict[int, list[str]]:
    """The instances' own filters of event types for `sink` (those that have one)."""
    ids = sorted(set(instance_ids))
    if not ids:
        return {}
    result = await session.execute(
        select(F.instance_id, F.events).where(F.sink == sink, any_of(F.instance_id, ids))
    )
    return {instance_id: list(events) for instance_id, events in result}


async def get_filter(session: Executor, instance_id: int, sink: str) -> list[str] | None:
    result = await session.execute(
        select(F.events).where(F.instance_id == instance_id, F.sink == sink)
    )
    events = result.scalar_one_or_none()
    return None if events is None else list(events)


async def put_filter(session: Executor, instance_id: int, sink: str, events: list[str]) -> None:
    await session.execute(delete(F).where(F.instance_id == instance_id, F.sink == sink))
    await session.execute(insert(F).values(instance_id=instance_id, sink=sink, events=events))


async def delete_filter(session: Executor, instance_id: int, sink: str) -> None:
    await session.execute(delete(F).where(F.instance_id == instance_id, F.sink == sink))


async def webhook_stats(session: AsyncSession) -> SinkStats:
    """The webhook outbox's backlog, read the same way (its failures: docs/webhooks.md)."""
    hook = WebhookDelivery
    retrying = func.sum(case((hook.attempts > 0, 1), else_=0))
    row = (
        await session.execute(
            select(func.count(), func.min(hook.created_at), retrying).where(
                hook.status == DeliveryStatus.PENDING.value
            )
        )
    ).one()
    return SinkStats(int(row[0]), row[1], int(row[2] or 0), None)
