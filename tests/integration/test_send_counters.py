"""The send policy's counter stores: the database's (both dialects) and Redis's count within a
window, start over in the next one, and keep instances apart."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import redis.asyncio as aioredis

from tests.support import rows
from wagate.db import Database
from wagate.policy import rules
from wagate.policy.counters import CounterStore, DatabaseCounters, RedisCounters
from wagate.policy.rules import Target
from wagate.policy.schemas import PerRecipient, Policy

NOW = datetime(2026, 3, 10, 12, 0, 30, tzinfo=UTC)
POLICY = Policy(per_minute=5, per_recipient=PerRecipient(limit=3, period_s=600))
TO = Target("5511987654321@s.whatsapp.net", new=True)


@pytest.fixture(params=["database", pytest.param("redis", marks=pytest.mark.redis)])
async def store(request: pytest.FixtureRequest, db: Database) -> AsyncIterator[CounterStore]:
    if request.param == "database":
        yield DatabaseCounters(db)
        return
    url: str = request.getfixturevalue("redis_url")
    prefix = f"wgtest:{uuid.uuid4().hex[:10]}:"
    counters = RedisCounters(aioredis.Redis.from_url(url), prefix)
    yield counters
    keys = [k async for k in counters.redis.scan_iter(match=prefix + "*")]
    if keys:
        await counters.redis.delete(*keys)
    await counters.close()


async def test_counts_within_a_window_and_start_over(db: Database, store: CounterStore) -> None:
    one = await rows.add_instance(db, f"c-{uuid.uuid4().hex[:8]}")
    two = await rows.add_instance(db, f"c-{uuid.uuid4().hex[:8]}")
    windows = rules.counted_windows(POLICY, NOW, TO)
    assert await store.read(one, windows) == {}
    await store.add(one, windows, NOW)
    await store.add(one, windows, NOW, amount=2)
    counts = await store.read(one, windows)
    assert counts[rules.SENDS_MINUTE] == 3 and counts[rules.SENDS_DAY] == 3
    assert counts[rules.NEW_DAY] == 3 and counts[rules.RECIPIENT + TO.jid] == 3
    assert await store.read(two, windows) == {}
    # The next minute: the minute's count starts over, the day's goes on.
    later = NOW + timedelta(minutes=1)
    next_windows = rules.counted_windows(POLICY, later, TO)
    counts = await store.read(one, next_windows)
    assert rules.SENDS_MINUTE not in counts and counts[rules.SENDS_DAY] == 3
    await store.add(one, next_windows, later)
    counts = await store.read(one, next_windows)
    assert counts[rules.SENDS_MINUTE] == 1 and counts[rules.SENDS_DAY] == 4
    # Past the per-recipient period (10 minutes): that count starts over too.
    after = rules.counted_windows(POLICY, NOW + timedelta(minutes=11), TO)
    assert rules.RECIPIENT + TO.jid not in await store.read(one, after)
