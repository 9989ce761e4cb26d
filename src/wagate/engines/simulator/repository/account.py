"""Queries on the simulated account: its blocklist, contacts and chats. Callers own the
transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.db import any_of
from wagate.models import SimulatorAccount, SimulatorBlock, SimulatorChat, SimulatorContact


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


async def block(session: AsyncSession, instance_id: int, jid: str) -> None:
    await session.merge(SimulatorBlock(instance_id=instance_id, contact=jid))


async def contact(session: AsyncSession, instance_id: int, jid: str) -> SimulatorContact | None:
    row: SimulatorContact | None = await session.get(SimulatorContact, (instance_id, jid))
    return row


async def meet_contact(
    session: AsyncSession, instance_id: int, jid: str, lid: str
) -> SimulatorContact:
    """The contact as the network meets it, written at once (a lookup by LID finds it next)."""
    row = SimulatorContact(instance_id=instance_id, jid=jid, lid=lid)
    session.add(row)
    await session.flush()
    return row


async def account(session: AsyncSession, instance_id: int) -> SimulatorAccount:
    """The account's own row, made empty when it has none yet."""
    row: SimulatorAccount | None = await session.get(SimulatorAccount, instance_id)
    if row is None:
        row = SimulatorAccount(instance_id=instance_id, privacy={})
        session.add(row)
    return row


async def chat(session: AsyncSession, instance_id: int, chat: str) -> SimulatorChat:
    """The chat's settings, as WhatsApp's defaults when it has none yet."""
    row: SimulatorChat | None = await session.get(SimulatorChat, (instance_id, chat))
    if row is None:
        row = SimulatorChat(
            instance_id=instance_id, chat=chat, archived=False, pinned=False, disappearing_s=0
        )
        session.add(row)
    return row


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
