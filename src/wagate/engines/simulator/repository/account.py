"""Queries on the simulated account: its blocklist, contacts and chats. Callers own the
transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.db import any_of
from wagate.models import SimulatorAccount, SimulatorBlock, SimulatorChat, SimulatorContact


async def blocked(session: AsyncSession, instance_id: int) -> set[str]:
    rows = await session.scalars(
        select(SimulatorBlock.contact).where(SimulatorBlock.instance_id == instance_id)
    )
    return set(rows)


async def blocked_of(session: AsyncSession, instance_ids: list[int]) -> dict[int, set[str]]:
    """The blocked contacts of several accounts in one read."""
    found: dict[int, set[str]] = {i: set() for i in instance_ids}
    rows = await session.execute(
        select(SimulatorBlock.instance_id, SimulatorBlock.contact).where(
            any_of(SimulatorBlock.instance_id, instance_ids)
        )
    )
    for instance_id, contact in rows:
        found[instance_id].add(contact)
    return found


async def privacy_of(session: AsyncSession, instance_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The privacy settings set on several accounts (an account without a row has none)."""
    accounts = await session.scalars(
        select(SimulatorAccount).where(any_of(SimulatorAccount.instance_id, instance_ids))
    )
    return {account.instance_id: account.privacy or {} for account in accounts}


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
