"""Instance rows by name, to resume, to update, to delete: the queries on the instances table
that the client manager and its ownership gate (engines layer) need as much as the instances
feature. In core so that both take them from this one place; the feature's repository
re-exports them. Callers own the transaction."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.db import utcnow
from wagate.models import Instance

# What an instance name may be: the create route's schema refuses any other, and a lookup of
# one skips the database.
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_NAME = re.compile(NAME_PATTERN)


async def get_by_name(session: AsyncSession, name: str) -> Instance | None:
    # A name that could never have been created is not looked up: it cannot exist, and
    # PostgreSQL refuses some strings outright (a NUL byte), which must stay a 404.
    if not _NAME.fullmatch(name):
        return None
    result = await session.execute(select(Instance).where(Instance.name == name))
    return result.scalar_one_or_none()


async def to_resume(session: AsyncSession) -> Sequence[Instance]:
    """Instances the user wants connected: reconnected when a node starts."""
    query = select(Instance).where(Instance.desired_state == "connected").order_by(Instance.id)
    return (await session.execute(query)).scalars().all()


INSTANCES = cast(Table, Instance.__table__)  # Core statements on it skip the ORM's bulk-update path


async def update_fields(session: AsyncSession, instance_id: int, **fields: Any) -> None:
    fields.setdefault("updated_at", utcnow())
    await session.execute(update(INSTANCES).where(INSTANCES.c.id == instance_id).values(**fields))


def same_columns(
    writes: list[tuple[int, dict[str, Any]]],
) -> list[list[tuple[int, dict[str, Any]]]]:
    """The writes cut into runs of consecutive writes of the same columns (order kept)."""
    runs: list[list[tuple[int, dict[str, Any]]]] = []
    for write in writes:
        if runs and runs[-1][0][1].keys() == write[1].keys():
            runs[-1].append(write)
        else:
            runs.append([write])
    return runs


async def update_many(session: AsyncSession, writes: list[tuple[int, dict[str, Any]]]) -> None:
    """Several rows' fields, all of the same columns, in one executemany."""
    now = utcnow()
    rows = [
        {"row_id": i, **{f"v_{k}": v for k, v in {"updated_at": now, **f}.items()}}
        for i, f in writes
    ]
    columns = [key[2:] for key in rows[0] if key != "row_id"]
    statement = (
        update(INSTANCES)
        .where(INSTANCES.c.id == bindparam("row_id"))
        .values({column: bindparam(f"v_{column}") for column in columns})
    )
    await session.execute(statement, rows)


async def delete_by_id(session: AsyncSession, instance_id: int) -> None:
    await session.execute(delete(Instance).where(Instance.id == instance_id))


async def by_token_hash(session: AsyncSession, token_hash: str) -> Row[str, str] | None:
    """The name and token hash of the instance whose token hashes to `token_hash`."""
    row = await session.execute(
        select(Instance.name, Instance.token_hash).where(Instance.token_hash == token_hash)
    )
    return row.first()
