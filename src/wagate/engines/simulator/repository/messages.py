"""Queries on the simulated messages: what the account sent (the outbox) and received (the
inbox). Callers own the transaction."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.db import Executor
from wagate.models import SimulatorInbox, SimulatorOutbox
from wagate.repository.bulk import insert_many


async def sent(
    session: AsyncSession, instance_id: int, chat: str, message_id: str
) -> SimulatorOutbox | None:
    return await session.scalar(
        select(SimulatorOutbox).where(
            SimulatorOutbox.instance_id == instance_id,
            SimulatorOutbox.message_id == message_id,
            SimulatorOutbox.to == chat,
        )
    )


async def received(
    session: AsyncSession, instance_id: int, chat: str, message_id: str
) -> SimulatorInbox | None:
    return await session.scalar(
        select(SimulatorInbox).where(
            SimulatorInbox.instance_id == instance_id,
            SimulatorInbox.message_id == message_id,
            SimulatorInbox.chat == chat,
        )
    )


async def keep_received(session: AsyncSession, row: SimulatorInbox) -> None:
    session.add(row)


async def insert_sent(connection: Executor, rows: list[dict[str, Any]]) -> None:
    # Through the table (Core): the ORM's bulk insert costs several times the CPU. One
    # statement for a group commit's rows.
    await insert_many(connection, cast(Table, SimulatorOutbox.__table__), rows)


async def outbox(session: AsyncSession, instance_id: int, limit: int) -> list[SimulatorOutbox]:
    result = await session.execute(
        select(SimulatorOutbox)
        .where(SimulatorOutbox.instance_id == instance_id)
        .order_by(SimulatorOutbox.id)
        .limit(limit)
    )
    return list(result.scalars().all())
