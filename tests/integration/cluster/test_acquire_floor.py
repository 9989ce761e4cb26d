"""Taking a lease with the fencing-token floor the caller read beforehand (placement reads it
with the instances it places): a floor that went stale meanwhile never lets a smaller token
into the row, on SQLite and PostgreSQL, with a real Redis."""

from __future__ import annotations

import pytest

from wagate.cluster.leases import LeaseStore
from wagate.cluster.ownership import LeaseOwnership
from wagate.db import Database
from wagate.models import Instance

pytestmark = pytest.mark.redis


async def _instance(db: Database, token: int | None) -> int:
    async with db.transaction() as session:
        row = Instance(
            name="shop", engine="simulator", token_hash="x", status="disconnected",
            desired_state="connected", settings={}, fencing_token=token,
        )  # fmt: skip
        session.add(row)
        await session.flush()
        return row.id


async def _row_token(db: Database, instance_id: int) -> int | None:
    async with db.session() as session:
        row = await session.get(Instance, instance_id)
        assert row is not None
        return row.fencing_token


async def test_a_fresh_floor_is_used_as_given(db: Database, store: LeaseStore) -> None:
    iid = await _instance(db, 41)
    ownership = LeaseOwnership(db, store, "a", ttl_s=3)
    assert await ownership.acquire(iid, "shop", floor=41)
    # Redis has no counter yet: the token starts above the floor, and the row follows it.
    assert ownership.leases[iid].holder.token == 42
    assert await _row_token(db, iid) == 42


async def test_a_stale_floor_takes_no_lease_and_the_next_read_does(
    db: Database, store: LeaseStore
) -> None:
    # Another node wrote token 57 after this node read the row (41), and Redis lost its keys.
    iid = await _instance(db, 57)
    ownership = LeaseOwnership(db, store, "a", ttl_s=3)
    assert not await ownership.acquire(iid, "shop", floor=41)
    assert iid not in ownership.leases
    assert await store.holder(iid) is None  # given back at once, free for the next attempt
    assert await _row_token(db, iid) == 57  # the smaller token never reached the row
    # Without a floor from the caller, acquire reads the row's own.
    assert await ownership.acquire(iid, "shop")
    assert ownership.leases[iid].holder.token == 58
    assert await _row_token(db, iid) == 58
