"""Instance leases in Redis: one holder per instance, with a fencing token.

A lease is the key `<prefix>lease:<instance id>` whose value is `<node>|<token>` and which
expires by itself (PX). Acquiring sets it only when absent (SET NX) and takes the token from a
counter (INCR on `<prefix>fence:<instance id>`), so every acquisition of an instance gets a
larger token than the one before. Renewing and releasing check the whole value, token included,
in one Lua script: a node can never extend or delete a lease that is no longer its own.

The counter is raised to at least `floor` (the token last written to the instance row) before
INCR, so tokens keep growing even after Redis lost its data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis

_ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
local floor = tonumber(ARGV[3])
if current < floor then redis.call('SET', KEYS[2], floor) end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. token, 'NX', 'PX', ARGV[2])
return token
"""

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass(frozen=True, slots=True)
class Holder:
    node: str
    token: int


def parse_holder(value: bytes | str | None) -> Holder | None:
    if value is None:
        return None
    text = value.decode() if isinstance(value, bytes) else value
    node, _, token = text.rpartition("|")
    try:
        return Holder(node, int(token))
    except ValueError:
        return None


class LeaseStore:
    """The Redis side of the leases; it keeps no state of its own."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self._acquire: Any = redis.register_script(_ACQUIRE)
        self._renew: Any = redis.register_script(_RENEW)
        self._release: Any = redis.register_script(_RELEASE)

    def lease_key(self, instance_id: int) -> str:
        return f"{self.prefix}lease:{instance_id}"

    def fence_key(self, instance_id: int) -> str:
        return f"{self.prefix}fence:{instance_id}"

    async def acquire(self, instance_id: int, node: str, ttl_ms: int, floor: int = 0) -> int | None:
        """The new fencing token, or None when another node holds the lease."""
        token = await self._acquire(
            keys=[self.lease_key(instance_id), self.fence_key(instance_id)],
            args=[node, ttl_ms, floor],
        )
        return int(token) or None

    async def renew_many(self, leases: dict[int, Holder], ttl_ms: int) -> dict[int, bool]:
        """Renew several leases in one round trip; False where the lease is no longer ours."""
        if not leases:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for instance_id, holder in leases.items():
                await self._renew(
                    keys=[self.lease_key(instance_id)],
                    args=[f"{holder.node}|{holder.token}", ttl_ms],
                    client=pipe,
                )
            results = await pipe.execute()
        return {iid: bool(ok) for iid, ok in zip(leases, results, strict=True)}

    async def release_many(self, leases: dict[int, Holder]) -> None:
        """Release several leases in one round trip (a node that stops hands over all)."""
        if not leases:
            return
        async with self.redis.pipeline(transaction=False) as pipe:
            for instance_id, holder in leases.items():
                await self._release(
                    keys=[self.lease_key(instance_id)],
                    args=[f"{holder.node}|{holder.token}"],
                    client=pipe,
                )
            await pipe.execute()

    async def release(self, instance_id: int, holder: Holder) -> bool:
        released = await self._release(
            keys=[self.lease_key(instance_id)], args=[f"{holder.node}|{holder.token}"]
        )
        return bool(released)

    async def holder(self, instance_id: int) -> Holder | None:
        return parse_holder(await self.redis.get(self.lease_key(instance_id)))

    async def holders(self, instance_ids: list[int]) -> dict[int, Holder]:
        """Who holds each of these instances (absent: nobody)."""
        if not instance_ids:
            return {}
        values = await self.redis.mget([self.lease_key(i) for i in instance_ids])
        found: dict[int, Holder] = {}
        for instance_id, value in zip(instance_ids, values, strict=True):
            holder = parse_holder(value)
            if holder is not None:
                found[instance_id] = holder
        return found
