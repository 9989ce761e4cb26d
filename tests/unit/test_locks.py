"""KeyedLocks: one key's holders exclude each other, other keys run meanwhile."""

from __future__ import annotations

import asyncio

from wagate.locks import KeyedLocks


async def test_one_key_is_held_by_one_at_a_time_and_other_keys_run_meanwhile() -> None:
    locks = KeyedLocks()
    inside: dict[str, int] = {"a": 0, "b": 0}
    most: dict[str, int] = {"a": 0, "b": 0}
    overlapped = asyncio.Event()

    async def work(key: str) -> None:
        async with locks.hold(key):
            inside[key] += 1
            most[key] = max(most[key], inside[key])
            if inside["a"] and inside["b"]:
                overlapped.set()
            await asyncio.sleep(0.01)
            inside[key] -= 1

    await asyncio.gather(*(work(key) for key in ("a", "b") * 5))
    assert most == {"a": 1, "b": 1}  # never two holders of one key
    assert overlapped.is_set()  # but "a" and "b" were held at the same time
    assert len(locks) == 0  # nothing left behind


async def test_a_failing_holder_frees_the_key() -> None:
    locks = KeyedLocks()
    try:
        async with locks.hold("a"):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert len(locks) == 0
    async with asyncio.timeout(1):
        async with locks.hold("a"):
            assert len(locks) == 1
