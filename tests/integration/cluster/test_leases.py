"""Leases against a real Redis: one holder, growing fencing tokens, no renewing someone else's."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import NamedTuple

import pytest
import redis

from wagate.cluster.leases import RENEW_CHUNK, Holder, LeaseRenewal, LeaseStore

pytestmark = pytest.mark.redis


class Lease(NamedTuple):
    instance_id: int
    holder: Holder


@pytest.fixture
def renewal(redis_url: str, key_prefix: str) -> Iterator[LeaseRenewal]:
    client = redis.Redis.from_url(redis_url)
    yield LeaseRenewal(client, key_prefix, "a")
    client.close()


async def test_one_holder_and_growing_tokens(store: LeaseStore) -> None:
    first = await store.acquire(1, "a", 5000)
    assert first is not None
    assert await store.acquire(1, "b", 5000) is None  # held: nobody else gets it
    assert await store.holder(1) == Holder("a", first)
    assert await store.release(1, Holder("a", first))
    second = await store.acquire(1, "b", 5000)
    assert second is not None and second > first
    assert await store.holders([1, 2]) == {1: Holder("b", second)}


async def test_renew_and_release_check_the_token(store: LeaseStore, renewal: LeaseRenewal) -> None:
    token = await store.acquire(7, "a", 300)
    assert token is not None
    stale = Holder("a", token - 1)
    assert renewal.renew([Lease(7, stale)], 5000) == [False]
    assert not await store.release(7, stale)
    assert renewal.renew([Lease(7, Holder("a", token))], 5000) == [True]
    await asyncio.sleep(0.5)  # past the first TTL: the renewal kept it
    assert await store.holder(7) == Holder("a", token)


async def test_renewal_keeps_the_node_alive_no_longer_than_its_leases(
    store: LeaseStore, renewal: LeaseRenewal
) -> None:
    assert await store.alive(["a", "b"]) == set()
    tokens = [await store.acquire(i, "a", 5000) for i in range(RENEW_CHUNK + 3)]
    held = [Lease(i, Holder("a", t)) for i, t in enumerate(tokens) if t is not None]
    # More leases than one script call renews: every one comes back, in order.
    assert renewal.renew([*held, Lease(9999, Holder("a", 1))], 400) == [True] * len(held) + [False]
    assert await store.alive(["a", "b"]) == {"a"}
    alive_ms = await store.redis.pttl(f"{store.prefix}node:a")
    lease_ms = await store.redis.pttl(store.lease_key(0))
    assert 0 < lease_ms <= alive_ms <= 400  # written last: it outlives none of the leases
    await asyncio.sleep(0.5)
    assert await store.alive(["a"]) == set() and await store.holder(0) is None
    renewal.renew([], 5000)  # a node holding nothing is live too
    assert await store.alive(["a"]) == {"a"}
    renewal.forget()
    assert await store.alive(["a"]) == set()


async def test_renewal_writes_the_leases_again_when_redis_lost_them(
    store: LeaseStore, renewal: LeaseRenewal
) -> None:
    """The leases a round renews wait in Redis between rounds: when Redis loses them (or the
    script), the next round writes them again and still tells which leases are gone."""
    count = RENEW_CHUNK + 2
    tokens = [await store.acquire(i, "a", 5000) for i in range(count)]
    held = [Lease(i, Holder("a", t)) for i, t in enumerate(tokens) if t is not None]
    assert renewal.renew(held, 5000) == [True] * count
    hashes = await store.redis.keys(f"{store.prefix}renewing:a:*")
    assert len(hashes) == 2
    assert await store.redis.hlen(renewal.held_key(0)) == RENEW_CHUNK
    assert 0 < await store.redis.pttl(renewal.held_key(1)) <= 4 * 5000
    # Redis restarted without its data: the hashes and a lease gone.
    await store.redis.delete(*hashes, store.lease_key(1))
    renewal._sha = "0" * 40  # and the script: NOSCRIPT, loaded again
    assert renewal.renew(held, 5000) == [i != 1 for i in range(count)]
    assert await store.redis.hlen(renewal.held_key(1)) == 2
    # Fewer leases: one hash, its content exactly them; the other hash is gone.
    fewer = held[2:5]
    assert renewal.renew(fewer, 5000) == [True, True, True]
    assert await store.redis.keys(f"{store.prefix}renewing:a:*") == [renewal.held_key(0).encode()]
    assert set(await store.redis.hkeys(renewal.held_key(0))) == {
        store.lease_key(i).encode() for i in (2, 3, 4)
    }
    # Another node took one meanwhile: only that one is reported.
    await store.redis.set(store.lease_key(3), "b|999")
    assert renewal.renew(fewer, 5000) == [True, False, True]
    renewal.forget()
    assert await store.redis.keys(f"{store.prefix}renewing:a:*") == []


async def test_lease_expires_by_itself(store: LeaseStore, renewal: LeaseRenewal) -> None:
    token = await store.acquire(3, "a", 200)
    assert token is not None
    await asyncio.sleep(0.35)
    assert await store.holder(3) is None
    assert renewal.renew([Lease(3, Holder("a", token))], 5000) == [False]
    taken = await store.acquire(3, "b", 5000)
    assert taken is not None and taken > token


async def test_floor_keeps_tokens_growing_after_redis_lost_its_data(store: LeaseStore) -> None:
    token = await store.acquire(4, "a", 5000)
    assert token == 1
    await store.redis.delete(store.lease_key(4), store.fence_key(4))  # as if Redis was flushed
    again = await store.acquire(4, "b", 5000, floor=41)
    assert again == 42
