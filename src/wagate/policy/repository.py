"""Queries of the send policy: its counters in the database (one node), and the messages it
holds or looks at (a chat sent to before, the queued ones held). Callers own the
transaction."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Row, case, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.message_status import MessageStatus
from wagate.messages import repository as messages
from wagate.models import Message, SendCounter
from wagate.models import SendPolicy as PolicyRow
from wagate.policy.rules import Window
from wagate.repository import rows


async def policy_row(session: AsyncSession, instance_id: int) -> PolicyRow | None:
    return await session.get(PolicyRow, instance_id)


async def write_policy_row(session: AsyncSession, instance_id: int, values: dict[str, Any]) -> None:
    """Set these columns of the instance's policy row, made if it has none yet."""
    row = await session.get(PolicyRow, instance_id)
    if row is None:
        row = PolicyRow(instance_id=instance_id, policy={}, trips=0)
        session.add(row)
    await rows.set_columns(session, row, **values)


async def start_warmup(session: AsyncSession, instance_id: int, now: datetime) -> None:
    """Day 1 of the warm-up is `now` unless it started already (a later call keeps it)."""
    row = await session.get(PolicyRow, instance_id)
    if row is None:
        session.add(PolicyRow(instance_id=instance_id, policy={}, trips=0, warmup_started_at=now))
    elif row.warmup_started_at is None:
        row.warmup_started_at = now


async def read_counters(
    session: AsyncSession, instance_id: int, keys: list[str]
) -> list[tuple[str, int, int]]:
    """The key, window and count of each of these counters of the instance."""
    rows = await session.execute(
        select(SendCounter.key, SendCounter.window, SendCounter.count).where(
            SendCounter.instance_id == instance_id, SendCounter.key.in_(keys)
        )
    )
    return [(key, window, count) for key, window, count in rows]


async def add_to_counter(
    session: AsyncSession,
    is_sqlite: bool,
    instance_id: int,
    window: Window,
    amount: int,
    expires_at: datetime,
) -> None:
    insert = sqlite_insert if is_sqlite else pg_insert
    statement = insert(SendCounter).values(
        instance_id=instance_id,
        key=window.key,
        window=window.index,
        count=amount,
        expires_at=expires_at,
    )
    # A new window starts the count over; the same one adds to it.
    statement = statement.on_conflict_do_update(
        index_elements=[SendCounter.instance_id, SendCounter.key],
        set_={
            "count": case(
                (
                    SendCounter.window == statement.excluded.window,
                    SendCounter.count + amount,
                ),
                else_=amount,
            ),
            "window": statement.excluded.window,
            "expires_at": statement.excluded.expires_at,
        },
    )
    await session.execute(statement)


async def sweep_counters(session: AsyncSession, instance_id: int, before: datetime) -> None:
    """Deletes the instance's counters that expired before `before`."""
    await session.execute(
        delete(SendCounter).where(
            SendCounter.instance_id == instance_id,
            SendCounter.expires_at < before,
        )
    )


async def has_sent_to(
    session: AsyncSession, instance_id: int, jid: str, sent: Collection[Any]
) -> bool:
    """Whether a message of the instance to `jid` has one of the statuses `sent`."""
    found = await session.execute(
        select(Message.id)
        .where(
            Message.instance_id == instance_id,
            Message.to_jid == jid,
            Message.status.in_(sent),
        )
        .limit(1)
    )
    return found.first() is not None


async def hold_queued(session: AsyncSession, instance_id: int, until: datetime, rule: str) -> None:
    await session.execute(
        update(Message)
        .where(Message.instance_id == instance_id, Message.status == MessageStatus.QUEUED)
        .values(held_until=until, held_by=rule)
    )


async def release_queued(session: AsyncSession, instance_id: int) -> None:
    await session.execute(
        update(Message)
        .where(Message.instance_id == instance_id, Message.held_until.is_not(None))
        .values(held_until=None, held_by=None)
    )


async def held(
    session: AsyncSession, instance_id: int
) -> tuple[int, Row[int, str | None, datetime | None] | None]:
    """How many queued messages of the instance are held, and the first held (its id, rule
    and time): while it is held every queued message waits behind it, and counts."""
    first = await messages.first_held(session, instance_id)
    if first is None:
        return 0, None
    count = (
        await session.execute(
            select(func.count(Message.id)).where(
                Message.instance_id == instance_id, Message.status == MessageStatus.QUEUED
            )
        )
    ).scalar_one()
    return count, first
