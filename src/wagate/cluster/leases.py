"""Instance leases in Redis: one holder per instance, with a fencing token.

A lease is the key `<prefix>lease:<instance id>` whose value is `<node>|<token>` and which
expires by itself (PX). Acquiring sets it only when absent (SET NX) and takes the token from a
counter (INCR on `<prefix>fence:<instance id>`), so every acquisition of an instance gets a
larger token than the one before. Renewing and releasing check the whole value, token included,
in one Lua script: a node can never extend or delete a lease that is no longer its own.

The counter is raised to at least `floor` (the token last written to the instance row) before
INCR, so tokens keep growing even after Redis lost its data.

Renewals run in a thread of their own with a synchronous connection (renewer.py): every lease of
the node, and the node's liveness key `<prefix>node:<node>`, in one script call per chunk. The
liveness key is written after the leases, with the same TTL, so it never expires before them:
a node that sees another node's key gone knows that node's leases are free too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import redis
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

# KEYS: the node's liveness key, then lease keys; ARGV: the TTL (ms), then each lease's value.
# 1 where the lease is still ours (renewed), 0 where it is gone or another node's.
_RENEW_MANY = """
local renewed = {}
for i = 2, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[i] then
    renewed[i - 1] = redis.call('PEXPIRE', KEYS[i], ARGV[1])
  else
    renewed[i - 1] = 0
  end
end
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
return renewed
"""
# Leases renewed by one script call: Redis runs nothing else meanwhile, so a node holding
# thousands renews them in several calls (sent together, one round trip).
RENEW_CHUNK = 500

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


def lease_key(prefix: str, instance_id: int) -> str:
    return f"{prefix}lease:{instance_id}"


def alive_key(prefix: str, node: str) -> str:
    return f"{prefix}node:{node}"


class Renewable(Protocol):
    """A lease as the renewal reads it."""

    @property
    def instance_id(self) -> int: ...

    @property
    def holder(self) -> Holder: ...


class LeaseRenewal:
    """The renewing side, on a synchronous connection of its own (used by one thread)."""

    def __init__(self, client: redis.Redis, prefix: str, node: str) -> None:
        self.redis = client
        self.prefix = prefix
        self.node = node
        self._renew: Any = client.register_script(_RENEW_MANY)
        # The leases of the last round and the script's keys and values for them, in chunks.
        # A node's leases seldom change from one round to the next; building two strings per
        # lease every round was half of the thread's CPU on a node holding 10,000.
        self._sent_for: list[Renewable] = []
        self._chunks = self._script_chunks(self._sent_for)

    def renew(self, leases: Sequence[Renewable], ttl_ms: int) -> list[bool]:
        """Renew these leases and the node's liveness key in one round trip; False where a
        lease is no longer ours."""
        # Compared item by item in C, the same objects equal at once: a lease's instance and
        # holder never change (a new holder is a new lease).
        current = list(leases)
        if current != self._sent_for:
            self._sent_for = current
            self._chunks = self._script_chunks(current)
        with self.redis.pipeline(transaction=False) as pipe:
            for keys, values in self._chunks:
                self._renew(keys=keys, args=[ttl_ms, *values], client=pipe)
            replies = pipe.execute()
        return [bool(ok) for reply in replies for ok in reply]

    def _script_chunks(self, leases: Sequence[Renewable]) -> list[tuple[list[str], list[str]]]:
        """The script's keys (the liveness key first, written after the leases) and lease
        values, RENEW_CHUNK leases per call; one call with the liveness key alone when the
        node holds none."""
        alive = alive_key(self.prefix, self.node)
        chunks = [leases[i : i + RENEW_CHUNK] for i in range(0, len(leases), RENEW_CHUNK)]
        return [
            (
                [alive, *(lease_key(self.prefix, x.instance_id) for x in chunk)],
                [f"{x.holder.node}|{x.holder.token}" for x in chunk],
            )
            for chunk in chunks or [[]]
        ]

    def forget(self) -> None:
        """The node stopped: the others stop counting it at once."""
        self.redis.delete(alive_key(self.prefix, self.node))


class LeaseStore:
    """The Redis side of the leases; it keeps no state of its own."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self._acquire: Any = redis.register_script(_ACQUIRE)
        self._release: Any = redis.register_script(_RELEASE)

    def lease_key(self, instance_id: int) -> str:
        return lease_key(self.prefix, instance_id)

    def fence_key(self, instance_id: int) -> str:
        return f"{self.prefix}fence:{instance_id}"

    async def acquire(self, instance_id: int, node: str, ttl_ms: int, floor: int = 0) -> int | None:
        """The new fencing token, or None when another node holds the lease."""
        token = await self._acquire(
            keys=[self.lease_key(instance_id), self.fence_key(instance_id)],
            args=[node, ttl_ms, floor],
        )
        return int(token) or None

    async def acquire_many(self, floors: dict[int, int], node: str, ttl_ms: int) -> dict[int, int]:
        """`acquire` for each instance id -> floor in one round trip: the new token of each
        lease taken (absent: another node holds it)."""
        if not floors:
            return {}
        async with self.redis.pipeline(transaction=False) as pipe:
            for instance_id, floor in floors.items():
                await self._acquire(
                    keys=[self.lease_key(instance_id), self.fence_key(instance_id)],
                    args=[node, ttl_ms, floor],
                    client=pipe,
                )
            tokens = await pipe.execute()
        return {iid: int(t) for iid, t in zip(floors, tokens, strict=True) if int(t)}

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

    async def alive(self, nodes: list[str]) -> set[str]:
        """Which of these nodes renewed their liveness key within the lease TTL."""
        if not nodes:
            return set()
        values = await self.redis.mget([alive_key(self.prefix, n) for n in nodes])
        return {node for node, value in zip(nodes, values, strict=True) if value is not None}
