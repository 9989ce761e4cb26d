"""Leases against a real Redis: one holder, growing fencing tokens, no renewing someone else's."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from wagate.cluster.leases import Holder, LeaseStore

pytestmark = pytest.mark.redis


@pytest.fixture
async def store(redis_url: str, key_prefix: str) -> AsyncIterator[LeaseStore]:
    client = aioredis.Redis.from_url(redis_url)
    yield LeaseStore(client, key_prefix)
    await client.aclose()


async def test_one_holder_and_growing_tokens(store: LeaseStore) -> None:
    first = await store.acquire(1, "a", 5000)
    assert first is not None
    assert await store.acquire(1, "b", 5000) is None  # held: nobody else gets it
    assert await store.holder(1) == Holder("a", first)
    assert await store.release(1, Holder("a", first))
    second = await store.acquire(1, "b", 5000)
    assert second is not None and second > first
    assert await store.holders([1, 2]) == {1: Holder("b", second)}


async def test_renew_and_release_check_the_token(store: LeaseStore) -> None:
    token = await store.acquire(7, "a", 300)
    assert token is not None
    stale = Holder("a", token - 1)
    assert await store.renew_many({7: stale}, 5000) == {7: False}
    assert not await store.release(7, stale)
    assert await store.renew_many({7: Holder("a", token)}, 5000) == {7: True}
    await asyncio.sleep(0.5)  # past the first TTL: the renewal kept it
    assert await store.holder(7) == Holder("a", token)


async def test_lease_expires_by_itself(store: LeaseStore) -> None:
    token = await store.acquire(3, "a", 200)
    assert token is not None
    await asyncio.sleep(0.35)
    assert await store.holder(3) is None
    assert await store.renew_many({3: Holder("a", token)}, 5000) == {3: False}
    taken = await store.acquire(3, "b", 5000)
    assert taken is not None and taken > token


async def test_floor_keeps_tokens_growing_after_redis_lost_its_data(store: LeaseStore) -> None:
    token = await store.acquire(4, "a", 5000)
    assert token == 1
    await store.redis.delete(store.lease_key(4), store.fence_key(4))  # as if Redis was flushed
    again = await store.acquire(4, "b", 5000, floor=41)
    assert again == 42
