"""Queries on key_values, the gateway-wide facts (the generated admin token's hash). Callers
own the transaction."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.models import KeyValue


async def get(session: AsyncSession, key: str) -> str | None:
    row = await session.get(KeyValue, key)
    return None if row is None else row.value


def add(session: AsyncSession, key: str, value: str) -> None:
    session.add(KeyValue(key=key, value=value))


async def put(session: AsyncSession, key: str, value: str) -> None:
    """Sets `key` to `value`, whether it is stored yet or not."""
    changed = await session.execute(update(KeyValue).where(KeyValue.key == key).values(value=value))
    if changed.rowcount == 0:  # type: ignore[attr-defined]
        add(session, key, value)
