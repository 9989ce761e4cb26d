"""Queries of the cluster: the nodes table, and what placement, forwarding and the cluster's
description read of the instances. Callers own the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.db import utcnow
from wagate.models import Instance, Node
from wagate.repository.instances import INSTANCES, same_columns

# --- nodes -------------------------------------------------------------------------------------


async def register(session: AsyncSession, node_id: str, role: str, address: str) -> None:
    """The node's row as it starts: a restarted node takes its old row over."""
    now = utcnow()
    fresh = {"started_at": now, "last_seen_at": now, "stopped_at": None}
    await session.merge(Node(id=node_id, role=role, address=address, **fresh))


async def heartbeat(session: AsyncSession, node_id: str) -> None:
    await session.execute(
        update(Node)
        .where(Node.id == node_id, Node.stopped_at.is_(None))
        .values(last_seen_at=utcnow())
    )


async def mark_stopped(session: AsyncSession, node_id: str, now: datetime) -> None:
    await session.execute(
        update(Node).where(Node.id == node_id).values(stopped_at=now, last_seen_at=now)
    )


async def nodes_seen_since(session: AsyncSession, since: datetime) -> Sequence[Node]:
    return (
        (await session.execute(select(Node).where(Node.last_seen_at >= since).order_by(Node.id)))
        .scalars()
        .all()
    )


# --- instances ---------------------------------------------------------------------------------


async def instance_id(session: AsyncSession, name: str) -> int | None:
    return await session.scalar(select(Instance.id).where(Instance.name == name))


async def instance_ids(session: AsyncSession) -> list[int]:
    return list((await session.execute(select(Instance.id))).scalars().all())


# What placement reads of the instances to hold: their ids and names, and the fencing token
# stored in each row (0: none yet); and the mark of that set (`wanted_mark`).
Wanted = tuple[dict[int, str], dict[int, int]]
WantedMark = tuple[int, int, int, int]


def _wanted_rows(engines: list[str]) -> Any:
    return (INSTANCES.c.desired_state == "connected", INSTANCES.c.engine.in_(engines))


async def wanted(session: AsyncSession, engines: list[str]) -> tuple[Wanted, WantedMark]:
    """The id and name of each instance the user wants connected, on one of `engines`, the
    fencing token stored in each row, and their mark (`wanted_mark`'s, computed here)."""
    # The table's columns, not the ORM's, whose row loading cost a node holding 10,000
    # instances more than the rest of the pass.
    table = INSTANCES
    rows = await session.execute(
        select(table.c.id, table.c.name, table.c.fencing_token).where(*_wanted_rows(engines))
    )
    found = rows.all()
    names = {iid: name for iid, name, _ in found}
    tokens = {iid: token or 0 for iid, _, token in found}
    mark = (
        len(found),
        sum(names),
        sum(_scattered(iid) for iid in names),
        sum(tokens.values()),
    )
    return (names, tokens), mark


def _scattered(iid: Any) -> Any:
    """An id's square modulo a prime, by Python or by the database alike: two sets of ids
    with the same sum have the same sum of these only if they are alike (for two ids, the
    same ids), and a sum of them does not overflow."""
    return (iid * iid) % 4294967291


async def wanted_mark(session: AsyncSession, engines: list[str]) -> WantedMark:
    """What changes when the set `wanted` reads changes: how many rows, the sums of their ids
    and of their ids scattered, and the sum of their fencing tokens, counted by the database
    in one row (an instance wanted or not any more, made, deleted, or taken with a new token
    moves it; an instance's name never changes)."""
    table = INSTANCES
    row = (
        await session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(table.c.id), 0),
                func.coalesce(func.sum(_scattered(table.c.id)), 0),
                func.coalesce(func.sum(func.coalesce(table.c.fencing_token, 0)), 0),
            ).where(*_wanted_rows(engines))
        )
    ).one()
    return int(row[0]), int(row[1]), int(row[2]), int(row[3])


async def existing(session: AsyncSession, ids: list[int]) -> set[int]:
    """Those of `ids` that are still instances."""
    rows = await session.execute(select(Instance.id).where(Instance.id.in_(ids)))
    return {iid for (iid,) in rows.all()}


async def names_on_node(session: AsyncSession, node_id: str) -> list[str]:
    names = (
        await session.execute(
            select(Instance.name).where(Instance.node == node_id).order_by(Instance.id)
        )
    ).scalars()
    return list(names)


async def instances_wanted(session: AsyncSession) -> Sequence[Row[int, str, str]]:
    """The id, name and desired state of every instance."""
    return (await session.execute(select(Instance.id, Instance.name, Instance.desired_state))).all()


# --- fencing -----------------------------------------------------------------------------------


async def write_fenced_many(
    session: AsyncSession, writes: list[tuple[int, int, dict[str, Any]]]
) -> list[bool]:
    """Write each (instance id, token, fields) to the instance's row if its fencing token is
    still `token`, in this order: one executemany per run of writes of the same columns, then
    one read of the rows' tokens.

    A row whose token is still ours after the writes took them: a matching UPDATE holds the
    row's lock until commit, so no other node's token can come between; a row whose token was
    not ours then never holds ours later (tokens only grow)."""
    if not writes:
        return []
    runs = same_columns([(iid, {"_token": token, **fields}) for iid, token, fields in writes])
    table = INSTANCES
    for run in runs:
        columns = [key for key in run[0][1] if key != "_token"]
        statement = (
            update(table)
            .where(table.c.id == bindparam("row_id"), table.c.fencing_token == bindparam("token"))
            .values({column: bindparam(f"v_{column}") for column in columns})
        )
        rows = [
            {"row_id": iid, "token": fields["_token"], **{f"v_{c}": fields[c] for c in columns}}
            for iid, fields in run
        ]
        await session.execute(statement, rows)
    ids = sorted({iid for iid, _, _ in writes})
    held = await fencing_tokens(session, ids)
    return [held.get(iid) == token for iid, token, _ in writes]


async def fencing_tokens(session: AsyncSession, instance_ids: list[int]) -> dict[int, int | None]:
    """The token stored in each of these rows (absent: no such row)."""
    rows = await session.execute(
        select(INSTANCES.c.id, INSTANCES.c.fencing_token).where(INSTANCES.c.id.in_(instance_ids))
    )
    return {iid: token for iid, token in rows}


async def raise_fencing_tokens(session: AsyncSession, tokens: dict[int, int]) -> set[int]:
    """Write each instance id's token to its row unless the row holds a larger one: one
    executemany and one read. The ids whose row now holds the given token (the others: no
    such row, or a larger token)."""
    if not tokens:
        return set()
    table = INSTANCES
    await session.execute(
        update(table)
        .where(
            table.c.id == bindparam("row_id"),
            or_(table.c.fencing_token.is_(None), table.c.fencing_token < bindparam("token")),
        )
        .values(fencing_token=bindparam("token")),
        [{"row_id": iid, "token": token} for iid, token in tokens.items()],
    )
    held = await fencing_tokens(session, sorted(tokens))
    return {iid for iid, token in tokens.items() if held.get(iid) == token}
