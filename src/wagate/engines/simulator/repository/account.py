"""Queries on the simulated account: its blocklist, contacts and chats. Callers own the
transaction."""

from __future__ import annotations

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.models import SimulatorBlock, SimulatorChat, SimulatorContact


async def blocked(session: AsyncSession, instance_id: int) -> set[str]:
    rows = await session.scalars(
        select(SimulatorBlock.contact).where(SimulatorBlock.instance_id == instance_id)
    )
    return set(rows)


async def blocklist(session: AsyncSession, instance_id: int) -> list[str]:
    """The blocked contacts, in the order they were blocked."""
    rows = await session.scalars(
        select(SimulatorBlock.contact)
        .where(SimulatorBlock.instance_id == instance_id)
        .order_by(SimulatorBlock.blocked_at, SimulatorBlock.contact)
    )
    return list(rows)


async def unblock(session: AsyncSession, instance_id: int, jid: str) -> None:
    await session.execute(
        delete(SimulatorBlock).where(
            SimulatorBlock.instance_id == instance_id, SimulatorBlock.contact == jid
        )
    )


async def contact_by_lid(
    session: AsyncSession, instance_id: int, lid: str
) -> SimulatorContact | None:
    found = await session.scalars(
        select(SimulatorContact).where(
            SimulatorContact.instance_id == instance_id, SimulatorContact.lid == lid
        )
    )
    first: SimulatorContact | None = found.first()
    return first


async def pinned_chats(session: AsyncSession, instance_id: int) -> int:
    pinned = await session.scalar(
        select(func.count())
        .select_from(SimulatorChat)
        .where(SimulatorChat.instance_id == instance_id, SimulatorChat.pinned.is_(True))
    )
    return pinned or 0
