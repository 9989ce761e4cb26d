"""Changes to a mapped row already loaded in a session. Callers own the transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from wagate.db import Base


async def set_columns(session: AsyncSession, row: Base, **values: Any) -> None:
    """Set these columns of `row`, loaded in `session`: the transaction writes them at its next
    flush, with the other changes of the unit of work (no statement of its own)."""
    if row not in session:
        raise ValueError(f"{type(row).__name__} is not in this session: nothing would write it")
    for name, value in values.items():
        setattr(row, name, value)
