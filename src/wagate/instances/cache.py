"""A per-node cache of what every API request looks up: which instance a token belongs to, and
an instance's id and send settings by name.

Without it each request paid two or three database round trips before doing its work. What is
cached is what the hot path needs and nothing that changes on its own (no status): the id, the
name, the settings, and token hash -> name.

Correctness:
- This node's own writes invalidate at once (`invalidate(name)` after a delete, a token
  rotation or a settings change is committed), so a deleted instance or a rotated token stops
  working on this node at the next request.
- A fill that raced an invalidation is not stored: every invalidation bumps a generation, and a
  value read from the database before the bump is dropped (a request that read the old token
  hash just before a rotation cannot put it back).
- Misses are never cached, so a new instance or token works at once everywhere.
- Other nodes of a cluster learn of a change when their entry expires: `ttl_s` (setting
  `WAGATE_INSTANCE_CACHE_TTL_S`, default 2 s) bounds how long a deleted instance's token or a
  rotated token can still be accepted by *another* node. A token rotation, logout or delete
  also sends the order to end the instance's streams to every node (EventBus.end_streams,
  relayed by the cluster), and each node drops the instance from this cache when it gets it:
  usually the other nodes forget at once; the TTL is the bound when that message is lost.
- An instance's webhook (by instance id, for the webhook outbox that writes a delivery row per
  event) is dropped at once by this node's webhook PUT/DELETE and instance delete; other
  nodes read it again after `ttl_s`. Meanwhile they may write an event's row for the old URL
  or event filter. The delivery worker reads the webhook afresh when it claims a row (a removed
  webhook's rows fail unsent, a rotated secret signs them), so the stale entry cannot post
  unsigned or to a webhook that no longer exists.
- Instance entries live longer (INSTANCE_TTL_S): a stale one is harmless. A send for an
  instance deleted meanwhile fails its INSERT on the foreign key and answers 404 (and drops
  the entry); settings changed on another node reach this node's new sends within that time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from wagate.models import Instance

INSTANCE_TTL_S = 30.0
MAX_ENTRIES = 100_000  # beyond this the cache is cleared rather than grown (bounded memory)


@dataclass(frozen=True, slots=True)
class CachedInstance:
    id: int
    name: str
    settings: dict[str, Any]

    @property
    def max_attempts(self) -> int:
        return int(self.settings.get("max_attempts", 3))

    @classmethod
    def of(cls, row: Instance) -> CachedInstance:
        return cls(row.id, row.name, dict(row.settings or {}))


class InstanceCache:
    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._instances: dict[str, tuple[float, CachedInstance]] = {}
        self._tokens: dict[str, tuple[float, str]] = {}  # token hash -> (expiry, name)
        self._token_of: dict[str, str] = {}  # name -> token hash cached for it
        self._webhooks: dict[int, tuple[float, dict[str, Any] | None]] = {}  # instance id ->
        self.generation = 0

    # --- instances by name -------------------------------------------------------------------

    def instance(self, name: str) -> CachedInstance | None:
        found = self._instances.get(name)
        if found is None:
            return None
        if found[0] <= time.monotonic():
            del self._instances[name]
            return None
        return found[1]

    def put_instance(self, value: CachedInstance, generation: int) -> None:
        """Store a value read from the database while `generation` was current."""
        if generation != self.generation or self.ttl_s <= 0:
            return
        if len(self._instances) >= MAX_ENTRIES:
            self._instances.clear()
        ttl = max(self.ttl_s, INSTANCE_TTL_S)
        self._instances[value.name] = (time.monotonic() + ttl, value)

    # --- tokens ------------------------------------------------------------------------------

    def token(self, token_hash: str) -> str | None:
        found = self._tokens.get(token_hash)
        if found is None:
            return None
        if found[0] <= time.monotonic():
            self._drop_token(token_hash)
            return None
        return found[1]

    def put_token(self, token_hash: str, name: str, generation: int) -> None:
        if generation != self.generation or self.ttl_s <= 0:
            return
        if len(self._tokens) >= MAX_ENTRIES:
            self._tokens.clear()
            self._token_of.clear()
        self._webhooks.clear()
        previous = self._token_of.get(name)
        if previous is not None and previous != token_hash:
            self._tokens.pop(previous, None)
        self._tokens[token_hash] = (time.monotonic() + self.ttl_s, name)
        self._token_of[name] = token_hash

    def _drop_token(self, token_hash: str) -> None:
        found = self._tokens.pop(token_hash, None)
        if found is not None and self._token_of.get(found[1]) == token_hash:
            del self._token_of[found[1]]

    # --- webhooks by instance id ------------------------------------------------------------

    def webhook(self, instance_id: int) -> tuple[bool, dict[str, Any] | None]:
        """(found, webhook): found is False when not cached (None is a cached "no webhook")."""
        found = self._webhooks.get(instance_id)
        if found is None:
            return False, None
        if found[0] <= time.monotonic():
            del self._webhooks[instance_id]
            return False, None
        return True, found[1]

    def put_webhook(self, instance_id: int, value: dict[str, Any] | None, generation: int) -> None:
        if generation != self.generation or self.ttl_s <= 0:
            return
        if len(self._webhooks) >= MAX_ENTRIES:
            self._webhooks.clear()
        self._webhooks[instance_id] = (time.monotonic() + self.ttl_s, value)

    def invalidate_webhook(self, instance_id: int) -> None:
        """The instance's webhook changed or the instance is gone: forget it now."""
        self.generation += 1
        self._webhooks.pop(instance_id, None)

    # --- invalidation ------------------------------------------------------------------------

    def invalidate(self, name: str) -> None:
        """The instance changed (deleted, token rotated, settings changed): forget it now."""
        self.generation += 1
        self._instances.pop(name, None)
        token_hash = self._token_of.pop(name, None)
        if token_hash is not None:
            self._tokens.pop(token_hash, None)

    def clear(self) -> None:
        self.generation += 1
        self._instances.clear()
        self._tokens.clear()
        self._token_of.clear()
        self._webhooks.clear()
