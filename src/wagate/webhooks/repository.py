"""Queries on webhook_deliveries and webhook_attempts. Callers own the transaction."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Row, Table, delete, literal_column, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.db import Executor, any_of
from wagate.models import Instance, WebhookAttempt, WebhookDelivery
from wagate.repository.bulk import insert_many, update_many
from wagate.webhooks.retry import FINAL, DeliveryStatus

D = WebhookDelivery
# Inserts go through the tables (Core): the ORM's bulk insert costs several times the CPU.
DELIVERIES = cast(Table, D.__table__)
ATTEMPTS = cast(Table, WebhookAttempt.__table__)


# What new_delivery_id makes. A cursor or id that is not one is refused before the query: a
# NUL byte in it fails in PostgreSQL's driver (a 500), and no such row exists anyway.
DELIVERY_ID = re.compile(r"dlv_[0-9a-f]{32}")


# `status = 'pending'` with the value written out: the due index is partial on exactly this
# (models.WebhookDelivery), and a bound parameter would not let the planner use it.
PENDING_ROWS = D.status == literal_column(f"'{DeliveryStatus.PENDING.value}'")


def unclaimed(now: datetime) -> ColumnElement[bool]:
    """Rows no live worker holds: never claimed, handed back, or their lease ran out."""
    return or_(D.claimed_until.is_(None), D.claimed_until <= now)


def is_delivery_id(value: str) -> bool:
    return DELIVERY_ID.fullmatch(value) is not None


def new_delivery_id(at: datetime | None = None) -> str:
    """Time-ordered (milliseconds first), so ids sort like creation: they page as a cursor,
    and the rows created before a time are those whose ids sort before `first_id_at` it."""
    return first_id_at(at) + secrets.token_hex(10)


def first_id_at(at: datetime | None = None) -> str:
    """What every delivery id created at `at` (now by default) or later starts with, or sorts
    after."""
    milliseconds = time.time_ns() // 1_000_000 if at is None else int(at.timestamp() * 1000)
    return f"dlv_{milliseconds:012x}"


def new_claim_token() -> str:
    return secrets.token_hex(16)


@dataclass(frozen=True, slots=True)
class Claimed:
    """A due delivery taken by one worker, with what it needs to post it."""

    id: str
    instance_id: int | None
    event: str
    url: str
    target: str
    payload: str
    attempts: int
    claim_token: str
    # The claim's lease: another node may claim the row once it has run out.
    lease_until: datetime | None = None


async def insert_deliveries(session: Executor, rows: Sequence[dict[str, Any]]) -> None:
    await insert_many(session, DELIVERIES, rows)


async def instance_webhooks(
    session: Executor, instance_ids: Iterable[int]
) -> dict[int, dict[str, Any] | None]:
    ids = sorted(set(instance_ids))
    if not ids:
        return {}
    result = await session.execute(
        select(Instance.id, Instance.webhook).where(any_of(Instance.id, ids))
    )
    return {row.id: row.webhook for row in result}


async def claim_due(
    session: Executor,
    *,
    now: datetime,
    lease_until: datetime,
    limit: int,
    exclude_urls: Sequence[str] = (),
) -> list[Claimed]:
    """Take up to `limit` due pending rows not claimed (or whose claim's lease ran out: its
    worker died) in one statement: they get a fresh claim token and a lease until
    `lease_until`. On PostgreSQL `SKIP LOCKED` lets several nodes claim side by side without
    waiting on each other or taking the same row; SQLite has a single writer anyway. The
    rows claimed and in flight are passed over in the due index (a lane's room of them)."""
    due = select(D.id).where(PENDING_ROWS, D.next_attempt_at <= now, unclaimed(now))
    if exclude_urls:
        due = due.where(D.url.not_in(list(exclude_urls)))
    due = due.order_by(D.next_attempt_at).limit(limit).with_for_update(skip_locked=True)
    token = new_claim_token()
    statement = (
        update(D)
        .where(D.id.in_(due.scalar_subquery()))
        .values(claim_token=token, claimed_until=lease_until)
        .returning(D.id, D.instance_id, D.event, D.url, D.target, D.payload, D.attempts)
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(statement)
    claimed = [Claimed(*row, claim_token=token, lease_until=lease_until) for row in result]
    claimed.sort(key=lambda item: item.id)
    return claimed


async def release(session: Executor, claimed: Sequence[Claimed], now: datetime) -> None:
    """Hand claimed rows back untried (over a URL's concurrency, or the node is stopping)."""
    for token in {item.claim_token for item in claimed}:
        ids = [item.id for item in claimed if item.claim_token == token]
        await session.execute(
            update(D)
            .where(any_of(D.id, ids), D.claim_token == token)
            .values(claim_token=None, claimed_until=None, next_attempt_at=now)
            .execution_options(synchronize_session=False)
        )


async def record_outcomes(
    session: Executor,
    outcomes: Sequence[dict[str, Any]],
    refused: Sequence[dict[str, Any]],
    accepted: Sequence[dict[str, Any]] = (),
) -> None:
    """Write many outcomes, each with its try on the delivery row; an outcome only lands while
    its claim token still holds. Every try stays on record: a try not accepted (`refused`) gets
    a row of the attempts table while its delivery exists; an accepted one only when its
    outcome did not land (another claim's outcome is on the delivery row), so the common case,
    accepted at the first try, writes the delivery row alone."""
    await update_many(
        session,
        DELIVERIES,
        ["id", "claim_token"],
        outcomes,
        {"claim_token": None, "claimed_until": None},
    )
    if not refused and not accepted:
        return
    wanted = sorted({item["delivery_id"] for item in [*refused, *accepted]})
    latest = dict(
        (await session.execute(select(D.id, D.last_attempted_at).where(any_of(D.id, wanted)))).all()
    )
    rows = [item for item in refused if item["delivery_id"] in latest]
    rows += [
        item
        for item in accepted
        if item["delivery_id"] in latest and latest[item["delivery_id"]] != item["attempted_at"]
    ]
    await insert_many(session, ATTEMPTS, rows)


async def fail_pending(session: AsyncSession, instance_id: int, target: str, error: str) -> None:
    await session.execute(
        update(D)
        .where(
            D.instance_id == instance_id,
            D.target == target,
            PENDING_ROWS,
        )
        .values(
            status=DeliveryStatus.FAILED.value,
            last_error=error,
            next_attempt_at=None,
            claim_token=None,
            claimed_until=None,
        )
        .execution_options(synchronize_session=False)
    )


async def move_pending(
    session: AsyncSession, instance_id: int | None, target: str, url: str
) -> None:
    """Send the still pending deliveries of a target (of one instance, or of all when
    `instance_id` is None) to its new URL."""
    query = update(D).where(D.target == target, PENDING_ROWS, D.url != url)
    if instance_id is not None:
        query = query.where(D.instance_id == instance_id)
    await session.execute(query.values(url=url).execution_options(synchronize_session=False))


async def list_deliveries(
    session: AsyncSession,
    instance_id: int,
    *,
    status: str | None,
    targets: Sequence[str],
    limit: int,
    cursor: str | None,
) -> Sequence[WebhookDelivery]:
    query = select(D).where(D.instance_id == instance_id, D.target.in_(list(targets)))
    if status is not None:
        query = query.where(D.status == status)
    if cursor is not None:
        query = query.where(D.id < cursor)
    query = query.order_by(D.id.desc()).limit(limit)
    return (await session.execute(query)).scalars().all()


async def get_delivery(
    session: AsyncSession, instance_id: int, delivery_id: str
) -> WebhookDelivery | None:
    result = await session.execute(
        select(D).where(D.id == delivery_id, D.instance_id == instance_id)
    )
    return result.scalar_one_or_none()


async def attempts_of(session: AsyncSession, delivery_id: str) -> Sequence[WebhookAttempt]:
    query = (
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id == delivery_id)
        .order_by(WebhookAttempt.id)
    )
    return (await session.execute(query)).scalars().all()


async def delete_finished_before(session: AsyncSession, cutoff: datetime, limit: int) -> int:
    """Delete up to `limit` delivered or failed rows created before `cutoff` (their attempts
    go with them); pending rows are kept whatever their age. The age is read from the ids
    (time-ordered, on the primary key's index): an index of `created_at` cost every insert
    and every change of status an entry (migration 0016)."""
    old = (
        select(D.id)
        .where(D.status.in_([status.value for status in FINAL]), D.id < first_id_at(cutoff))
        .limit(limit)
    )
    ids = list((await session.execute(old)).scalars())
    if not ids:
        return 0
    await session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(ids)))
    await session.execute(delete(D).where(D.id.in_(ids)))
    return len(ids)


async def stored_webhooks(session: AsyncSession) -> Sequence[Row[int, str, Any]]:
    """The id, name and webhook of each instance that has one."""
    return (
        await session.execute(
            select(Instance.id, Instance.name, Instance.webhook).where(
                Instance.webhook.is_not(None)
            )
        )
    ).all()


async def lock_instance_webhooks(
    session: AsyncSession, instance_ids: Sequence[int]
) -> Sequence[Row[int, Any]]:
    """The id and webhook of these instances, locked for update (PostgreSQL)."""
    locked = await session.execute(
        select(Instance.id, Instance.webhook).where(Instance.id.in_(instance_ids)).with_for_update()
    )
    return locked.all()
