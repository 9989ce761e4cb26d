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
node's leases (key and value) wait in Redis beside the script, a hash per chunk
(`<prefix>renewing:<node>:<n>`) written again only when they change. The
liveness key is written after the leases, with the same TTL, so it never expires before them:
a node that sees another node's key gone knows that node's leases are free too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import redis
from redis.asyncio import Redis
from redis.typing import EncodableT, FieldT

_ACQUIRE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local current = tonumber(redis.call('GET', KEYS[2]) or '0')
local floor = tonumber(ARGV[3])
if current < floor then redis.call('SET', KEYS[2], floor) end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '|' .. token, 'NX', 'PX', ARGV[2])
return token
"""

# KEYS: the node's liveness key, then a hash of lease key -> lease value (the leases the node
# renews, a chunk of them); ARGV: the TTL (ms), the hash's own TTL (ms), how many leases the
# hash should hold. Returns the lease keys that are gone or another node's, or -1 when the hash
# is not what the node wrote (Redis lost it): the node writes it again and asks again.
# The node's leases live in Redis beside the script, written when they change, so a round of
# renewals sends a few words rather than every lease's key and value: on a node holding 10,000
# leases packing those twice a second, and reading a flag back for each, was most of the
# renewal thread's CPU.
_RENEW_HELD = """
if redis.call('HLEN', KEYS[2]) ~= tonumber(ARGV[3]) then return -1 end
local held = redis.call('HGETALL', KEYS[2])
local lost = {}
for i = 1, #held, 2 do
  if redis.call('GET', held[i]) == held[i + 1] then
    redis.call('PEXPIRE', held[i], ARGV[1])
  else
    lost[#lost + 1] = held[i]
  end
end
if #held > 0 then redis.call('PEXPIRE', KEYS[2], ARGV[2]) end
redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
return lost
"""
# A node's renewal hashes outlive a round this many TTLs: a node that died leaves them for no
# longer (one that stalled that long has lost its leases anyway and writes them again).
HELD_TTLS = 4
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

    @property
    def value(self) -> str:
        """The lease key's value (`parse_holder` reads it back)."""
        return f"{self.node}|{self.token}"


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
        self._sha: str | None = None  # the script's, loaded at the first round
        # The leases of the last round, and what Redis holds for them: a hash per chunk of
        # RENEW_CHUNK (its leases, and how many keys it has). A chunk whose leases did not
        # change is not written again: a node taking instances adds leases at the end.
        self._sent_for: list[Renewable] | None = None
        self._chunks: list[tuple[list[Renewable], int]] = []

    def held_key(self, chunk: int) -> str:
        return f"{self.prefix}renewing:{self.node}:{chunk}"

    def renew(self, leases: Sequence[Renewable], ttl_ms: int) -> list[bool]:
        """Renew these leases and the node's liveness key in one round trip; False where a
        lease is no longer ours."""
        # Compared item by item in C, the same objects equal at once: a lease's instance and
        # holder never change (a new holder is a new lease).
        current = list(leases)
        chunks = self._chunks
        if current != self._sent_for:
            cut = [current[i : i + RENEW_CHUNK] for i in range(0, len(current), RENEW_CHUNK)]
            chunks = [self._kept_or_new(n, chunk) for n, chunk in enumerate(cut or [[]])]
        try:
            lost = self._round(ttl_ms, chunks, force=False)
            if lost is None:  # Redis lost a hash (restarted, flushed): all written again
                lost = self._round(ttl_ms, chunks, force=True)
                if lost is None:
                    raise RuntimeError("lease renewal hashes vanished twice in a row")
        except BaseException:
            # What Redis holds is not known now: the next round writes every hash.
            self._sent_for, self._chunks = None, []
            raise
        self._sent_for, self._chunks = current, chunks
        if not lost:
            return [True] * len(current)
        gone = set(lost)
        return [lease_key(self.prefix, x.instance_id) not in gone for x in current]

    def _kept_or_new(self, n: int, chunk: list[Renewable]) -> tuple[list[Renewable], int]:
        if n < len(self._chunks) and self._chunks[n][0] == chunk:
            return self._chunks[n]
        return chunk, -1  # its size once written

    def _mapping(self, chunk: list[Renewable]) -> dict[FieldT, EncodableT]:
        return {lease_key(self.prefix, x.instance_id): x.holder.value for x in chunk}

    def _round(
        self, ttl_ms: int, chunks: list[tuple[list[Renewable], int]], *, force: bool
    ) -> list[str] | None:
        """One round trip: the chunks' hashes that changed (all when `force`), then a script
        call per chunk. The lease keys lost, or None when a hash was not what was written."""
        writes: dict[int, dict[FieldT, EncodableT]] = {}
        for n, (chunk, size) in enumerate(chunks):
            if size < 0 or force:
                writes[n] = self._mapping(chunk)
                chunks[n] = (chunk, len(writes[n]))
        stale = range(len(chunks), max(len(self._chunks), len(chunks)))
        try:
            replies = self._send(ttl_ms, chunks, writes, stale)
        except redis.exceptions.NoScriptError:
            self._sha = None  # Redis restarted without it: loaded again
            replies = self._send(ttl_ms, chunks, writes, stale)
        lost: list[str] = []
        for reply in replies[len(replies) - len(chunks) :]:
            if reply == -1:
                return None
            lost.extend(key.decode() for key in reply)
        return lost

    def _send(
        self,
        ttl_ms: int,
        chunks: list[tuple[list[Renewable], int]],
        writes: dict[int, dict[FieldT, EncodableT]],
        stale: range,
    ) -> list[Any]:
        alive = alive_key(self.prefix, self.node)
        sha = self._sha_of()
        with self.redis.pipeline(transaction=False) as pipe:
            for n in [*writes, *stale]:
                pipe.delete(self.held_key(n))
            for n, mapping in writes.items():
                if mapping:
                    pipe.hset(self.held_key(n), mapping=mapping)
            for n, (_, size) in enumerate(chunks):
                pipe.evalsha(sha, 2, alive, self.held_key(n), ttl_ms, ttl_ms * HELD_TTLS, size)
            replies: list[Any] = pipe.execute()
        return replies

    def _sha_of(self) -> str:
        if self._sha is None:
            self._sha = str(self.redis.script_load(_RENEW_HELD))
        return self._sha

    def forget(self) -> None:
        """The node stopped: the others stop counting it at once."""
        self.redis.delete(
            alive_key(self.prefix, self.node),
            *(self.held_key(n) for n in range(max(len(self._chunks), 1))),
        )


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
                    args=[holder.value],
                    client=pipe,
                )
            await pipe.execute()

    async def release(self, instance_id: int, holder: Holder) -> bool:
        released = await self._release(keys=[self.lease_key(instance_id)], args=[holder.value])
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
