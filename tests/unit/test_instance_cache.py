"""The per-node instance/token cache: expiry, invalidation, and fills that raced one."""

from __future__ import annotations

import time

import pytest

from wagate.instances import cache as cache_module
from wagate.instances.cache import CachedInstance, InstanceCache


def ref(name: str = "a", instance_id: int = 1, **settings: int) -> CachedInstance:
    return CachedInstance(instance_id, name, dict(settings))


def test_a_put_value_is_found_until_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = InstanceCache(ttl_s=2.0)
    now = time.monotonic()
    monkeypatch.setattr(cache_module.time, "monotonic", lambda: now)
    cache.put_token("h1", "a", cache.generation)
    cache.put_instance(ref(max_attempts=7), cache.generation)
    assert cache.token("h1") == "a"
    found = cache.instance("a")
    assert found is not None and found.max_attempts == 7
    # tokens live ttl_s; instance entries longer (a stale one fails on the foreign key)
    monkeypatch.setattr(cache_module.time, "monotonic", lambda: now + 2.5)
    assert cache.token("h1") is None
    assert cache.instance("a") is not None
    monkeypatch.setattr(cache_module.time, "monotonic", lambda: now + cache_module.INSTANCE_TTL_S)
    assert cache.instance("a") is None


def test_invalidate_forgets_the_instance_and_its_token_at_once() -> None:
    cache = InstanceCache(ttl_s=60)
    cache.put_token("h1", "a", cache.generation)
    cache.put_token("h2", "b", cache.generation)
    cache.put_instance(ref("a"), cache.generation)
    cache.invalidate("a")
    assert cache.token("h1") is None and cache.instance("a") is None
    assert cache.token("h2") == "b"  # other instances keep theirs


def test_a_fill_read_before_an_invalidation_is_not_stored() -> None:
    cache = InstanceCache(ttl_s=60)
    generation = cache.generation  # a request starts reading the database...
    cache.invalidate("a")  # ...the token is rotated and committed meanwhile...
    cache.put_token("old-hash", "a", generation)  # ...and its stale read comes back
    cache.put_instance(ref("a"), generation)
    assert cache.token("old-hash") is None
    assert cache.instance("a") is None


def test_a_new_token_replaces_the_old_one_of_the_same_instance() -> None:
    cache = InstanceCache(ttl_s=60)
    cache.put_token("old", "a", cache.generation)
    cache.put_token("new", "a", cache.generation)
    assert cache.token("old") is None and cache.token("new") == "a"


def test_ttl_zero_turns_the_cache_off() -> None:
    cache = InstanceCache(ttl_s=0)
    cache.put_token("h1", "a", cache.generation)
    cache.put_instance(ref("a"), cache.generation)
    assert cache.token("h1") is None and cache.instance("a") is None


def test_webhooks_are_cached_by_id_expire_and_are_invalidated_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cache = InstanceCache(ttl_s=2.0)
    now = time.monotonic()
    monkeypatch.setattr(cache_module.time, "monotonic", lambda: now)
    hook = {"url": "http://x/hook", "events": None, "secret": None}
    assert cache.webhook(1) == (False, None)
    cache.put_webhook(1, hook, cache.generation)
    cache.put_webhook(2, None, cache.generation)  # "no webhook" is an answer too
    assert cache.webhook(1) == (True, hook)
    assert cache.webhook(2) == (True, None)
    # a read that raced a change is not stored
    generation = cache.generation
    cache.invalidate_webhook(1)
    assert cache.webhook(1) == (False, None)
    cache.put_webhook(1, hook, generation)
    assert cache.webhook(1) == (False, None)
    # other nodes' changes arrive after ttl_s
    monkeypatch.setattr(cache_module.time, "monotonic", lambda: now + 2.5)
    assert cache.webhook(2) == (False, None)


def test_a_cache_turned_off_stores_no_webhook() -> None:
    cache = InstanceCache(ttl_s=0)
    cache.put_webhook(1, {"url": "http://x"}, cache.generation)
    assert cache.webhook(1) == (False, None)
