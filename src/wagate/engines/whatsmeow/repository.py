"""Queries on whatsmeow's device store, when it lives in the gateway's PostgreSQL database
(whatsmeow_* tables, created by whatsmeow itself). Callers own the transaction."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def has_store(session: AsyncSession) -> bool:
    return bool(await session.scalar(text("SELECT to_regclass('whatsmeow_device') IS NOT NULL")))


async def device_jid(session: AsyncSession, device: str) -> str | None:
    found = await session.scalar(
        text("SELECT jid FROM whatsmeow_device WHERE jid = :device"),
        {"device": device},
    )
    return str(found) if found else None


async def delete_device(session: AsyncSession, device: str) -> None:
    # The other whatsmeow_* tables reference the device row with ON DELETE CASCADE, except
    # the privacy tokens (no foreign key). The LID map is shared knowledge, not the device's.
    # Exact device JIDs only: another instance may have linked the same number.
    for table, column in (("whatsmeow_device", "jid"), ("whatsmeow_privacy_tokens", "our_jid")):
        await session.execute(
            text(f"DELETE FROM {table} WHERE {column} = :device"),  # noqa: S608 (fixed names)
            {"device": device},
        )
