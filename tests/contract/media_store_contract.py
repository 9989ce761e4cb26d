"""What every media store (wagate.media_store) promises, run against each backend directly:
tests/contract/test_media_store.py gives each one a `harness`."""

from __future__ import annotations

import hashlib
import os
from typing import Protocol

import pytest

from wagate.media_store import CHUNK, MediaMissing, MediaStore, Presign, media_key, read_all

PRESIGN = Presign(content_type="image/png", disposition='inline; filename="a.png"', expires_s=60)


class MediaStoreHarness(Protocol):
    store: MediaStore

    async def reopen(self) -> MediaStore:
        """The same storage through a new store (a restarted node), started."""
        ...

    async def objects(self) -> int:
        """How many objects the storage holds, counted behind the store's back."""
        ...


async def joined(store: MediaStore, key: str, start: int = 0, end: int | None = None) -> bytes:
    return b"".join([chunk async for chunk in store.read(key, start, end)])


class MediaStoreContract:
    async def test_put_is_by_content_and_once(self, harness: MediaStoreHarness) -> None:
        data = b"a photo" * 1000
        key = await harness.store.put(data)
        assert key == hashlib.sha256(data).hexdigest() == media_key(data)
        assert await harness.store.put(data) == key
        assert await harness.objects() == 1
        assert await harness.store.size(key) == len(data)
        assert await harness.store.exists(key)
        assert await read_all(harness.store, key) == data

    async def test_missing(self, harness: MediaStoreHarness) -> None:
        key = media_key(b"never stored")
        assert await harness.store.size(key) is None
        assert not await harness.store.exists(key)
        with pytest.raises(MediaMissing):
            await read_all(harness.store, key)
        await harness.store.delete(key)  # no error

    async def test_ranges(self, harness: MediaStoreHarness) -> None:
        # More than two chunks: a range may start and end inside any of them.
        data = os.urandom(CHUNK * 2 + 1000)
        key = await harness.store.put(data)
        assert await joined(harness.store, key, 0, 0) == data[:1]
        assert await joined(harness.store, key, 10, 19) == data[10:20]
        assert await joined(harness.store, key, CHUNK - 5, CHUNK + 5) == data[CHUNK - 5 : CHUNK + 6]
        assert await joined(harness.store, key, CHUNK + 7) == data[CHUNK + 7 :]
        assert await joined(harness.store, key, len(data) - 1, len(data) - 1) == data[-1:]

    async def test_empty_object(self, harness: MediaStoreHarness) -> None:
        key = await harness.store.put(b"")
        assert await harness.store.size(key) == 0
        assert await read_all(harness.store, key) == b""

    async def test_delete(self, harness: MediaStoreHarness) -> None:
        keep = await harness.store.put(b"kept")
        gone = await harness.store.put(b"deleted")
        await harness.store.delete(gone)
        assert not await harness.store.exists(gone)
        assert await harness.store.exists(keep)
        assert await harness.objects() == 1

    async def test_a_restart_keeps_the_objects(self, harness: MediaStoreHarness) -> None:
        key = await harness.store.put(b"kept across a restart")
        again = await harness.reopen()
        assert await read_all(again, key) == b"kept across a restart"

    async def test_keys_are_digests_only(self, harness: MediaStoreHarness) -> None:
        for bad in ("../../etc/passwd", "A" * 64, "ab", "0" * 63 + "/"):
            with pytest.raises(ValueError):
                await harness.store.size(bad)
            with pytest.raises(ValueError):
                await harness.store.delete(bad)
