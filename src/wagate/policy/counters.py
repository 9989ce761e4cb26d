"""Where the send policy's counters live: the database on one node, Redis in a cluster (every
node sees them, so a failover does not reset a day's cap). Each counter is the count of its
current window (`rules.Window`); an older window's count reads as zero."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Protocol

from redis.asyncio import Redis

from wagate.db import Database
from wagate.policy import repository
from wagate.policy.rules import Window

# A counter is kept this long past its window (it is read as zero then anyway).
KEEP = timedelta(minutes=5)
# One write in this many also sweeps the instance's expired rows (the per-recipient ones
# would pile up otherwise).
SWEEP_ONE_IN = 200


class CounterStore(Protocol):
    async def read(self, instance_id: int, windows: list[Window]) -> dict[str, int]:
        """The count of each window (absent: zero)."""
        ...

    async def add(
        self, instance_id: int, windows: list[Window], now: datetime, amount: int = 1
    ) -> None:
        """Count `amount` in each window; `now`: the policy clock's time (the windows end by
        it, not by the server's clock)."""
        ...

    async def close(self) -> None: ...


class DatabaseCounters:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def read(self, instance_id: int, windows: list[Window]) -> dict[str, int]:
        if not windows:
            return {}
        index = {window.key: window.index for window in windows}
        async with self.db.session() as session:
            rows = await repository.read_counters(session, instance_id, list(index))
            return {key: count for key, window, count in rows if index.get(key) == window}

    async def add(
        self, instance_id: int, windows: list[Window], now: datetime, amount: int = 1
    ) -> None:
        async with self.db.transaction() as session:
            for window in windows:
                await repository.add_to_counter(
                    session, self.db.is_sqlite, instance_id, window, amount, window.ends + KEEP
                )
            if random.randrange(SWEEP_ONE_IN) == 0:
                await repository.sweep_counters(
                    session, instance_id, min(w.ends for w in windows) - KEEP * 2
                )

    async def close(self) -> None:
        return None


class RedisCounters:
    """One key per counter and window, which expires after its window."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix

    def _key(self, instance_id: int, window: Window) -> str:
        return f"{self.prefix}policy:{instance_id}:{window.key}:{window.index}"

    async def read(self, instance_id: int, windows: list[Window]) -> dict[str, int]:
        if not windows:
            return {}
        values = await self.redis.mget([self._key(instance_id, w) for w in windows])
        return {w.key: int(v) for w, v in zip(windows, values, strict=True) if v is not None}

    async def add(
        self, instance_id: int, windows: list[Window], now: datetime, amount: int = 1
    ) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for window in windows:
                key = self._key(instance_id, window)
                pipe.incrby(key, amount)
                pipe.expire(key, _ttl_s(window.ends + KEEP - now))
            await pipe.execute()

    async def close(self) -> None:
        await self.redis.aclose()


def _ttl_s(left: timedelta) -> int:
    return max(1, int(left.total_seconds()) + 1)
