"""Leases taken, and fenced status writes made, many at a time (a node connecting thousands of
instances at start): each instance still gets its own answer, on SQLite and PostgreSQL, with a
real Redis."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import delete, select, update

from wagate.cluster.leases import LeaseStore
from wagate.cluster.ownership import LeaseOwnership
from wagate.db import Database
from wagate.models import Instance

pytestmark = pytest.mark.redis


async def _instances(db: Database, tokens: list[int | None]) -> list[int]:
    async with db.transaction() as session:
        rows = [
            Instance(
                name=f"shop{i}",
                engine="simulator",
                token_hash=f"x{i}",
                status="disconnected",
                desired_state="connected",
                settings={},
                fencing_token=token,
            )
            for i, token in enumerate(tokens)
        ]
        session.add_all(rows)
        await session.flush()
        return [row.id for row in rows]


async def _rows(db: Database, ids: list[int]) -> dict[int, Instance]:
    async with db.session() as session:
        found = await session.scalars(select(Instance).where(Instance.id.in_(ids)))
        return {row.id: row for row in found}


async def test_a_batch_takes_what_is_free_and_gives_back_what_it_may_not_write(
    db: Database, store: LeaseStore
) -> None:
    free, held_elsewhere, stale, deleted = await _instances(db, [None, 3, 57, None])
    other = LeaseOwnership(db, store, "b", ttl_s=5)
    assert await other.acquire(held_elsewhere, "shop1")
    async with db.transaction() as session:
        await session.execute(delete(Instance).where(Instance.id == deleted))
    ownership = LeaseOwnership(db, store, "a", ttl_s=5)
    taken = await ownership.acquire_many(
        {
            free: ("shop0", None),  # floor read from the row
            held_elsewhere: ("shop1", 3),
            stale: ("shop2", 41),  # another node wrote 57 since, and Redis lost its counter
            deleted: ("shop3", None),
        }
    )
    assert taken == {free}
    assert set(ownership.leases) == {free}
    assert ownership.ids == {"shop0": free}
    assert (await store.holder(free)) == ownership.leases[free].holder
    assert (await store.holder(held_elsewhere)) == other.leases[held_elsewhere].holder
    # Refused by the row: given back at once, free for the next pass.
    assert await store.holder(stale) is None
    assert await store.holder(deleted) is None
    rows = await _rows(db, [free, stale])
    assert rows[free].fencing_token == ownership.leases[free].holder.token
    assert rows[stale].fencing_token == 57
    # A lease already held is not taken again.
    assert await ownership.acquire_many({free: ("shop0", None)}) == set()
    # The next pass reads the row's token itself and gets past it.
    assert await ownership.acquire_many({stale: ("shop2", None)}) == {stale}
    assert ownership.leases[stale].holder.token == 58


async def test_fenced_writes_answer_each_row_and_stop_only_the_superseded(
    db: Database, store: LeaseStore
) -> None:
    a, b, c = await _instances(db, [None, None, None])
    ownership = LeaseOwnership(db, store, "a", ttl_s=5)
    lost: list[str] = []
    ownership.on_lost = lambda lease, why: lost.append(lease.name)
    assert await ownership.acquire_many({a: ("shop0", None), b: ("shop1", None)}) == {a, b}
    # Another node took b over (its lease expired here, say) and wrote its larger token.
    async with db.transaction() as session:
        await session.execute(update(Instance).where(Instance.id == b).values(fencing_token=1000))
    writes: list[tuple[int, dict[str, Any]]] = [
        (a, {"status": "connecting", "node": "a"}),
        (b, {"status": "connecting", "node": "a"}),
        (c, {"status": "connecting", "node": "a"}),  # never held here
        (a, {"status": "connected", "jid": "1@s.whatsapp.net"}),
    ]
    async with db.transaction() as session:
        answers = await ownership.write_many(session, writes)
    assert answers == [True, False, False, True]
    assert lost == ["shop1"]
    rows = await _rows(db, [a, b, c])
    assert (rows[a].status, rows[a].jid, rows[a].node) == ("connected", "1@s.whatsapp.net", "a")
    assert (rows[b].status, rows[b].fencing_token) == ("disconnected", 1000)
    assert rows[c].status == "disconnected"
