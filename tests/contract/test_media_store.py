"""The media store contract (tests/contract/media_store_contract.py) on each backend, and what
only one backend promises: the local files' modes, the S3 store's presigned URLs (fetched from
moto's S3 server, a real process on loopback)."""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.contract.media_store_contract import PRESIGN, MediaStoreContract
from tests.support.s3 import S3Server
from wagate.config import Settings
from wagate.media_store import MediaStore
from wagate.media_store.build import build_media_store
from wagate.media_store.local import LocalMediaStore
from wagate.media_store.s3 import S3MediaStore


class Harness:
    def __init__(self, make: Any) -> None:
        self.make = make
        self.opened: list[MediaStore] = []
        self.store: MediaStore

    async def open(self) -> MediaStore:
        store: MediaStore = self.make()
        await store.start()
        self.opened.append(store)
        return store

    async def reopen(self) -> MediaStore:
        return await self.open()

    async def close(self) -> None:
        for store in self.opened:
            await store.close()


# --- the local filesystem --------------------------------------------------------------------


class LocalHarness(Harness):
    def __init__(self, root: Path) -> None:
        super().__init__(lambda: LocalMediaStore(root))
        self.root = root

    async def objects(self) -> int:
        return sum(1 for path in self.root.rglob("*") if path.is_file())


@pytest.fixture
async def local_harness(tmp_path: Path) -> AsyncIterator[LocalHarness]:
    harness = LocalHarness(tmp_path / "media")
    harness.store = await harness.open()
    yield harness
    await harness.close()


class TestLocalMediaStore(MediaStoreContract):
    @pytest.fixture
    def harness(self, local_harness: LocalHarness) -> LocalHarness:
        return local_harness

    async def test_files_are_private(self, local_harness: LocalHarness) -> None:
        key = await local_harness.store.put(b"private")
        assert isinstance(local_harness.store, LocalMediaStore)
        path = local_harness.store.path(key)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        folder = path.parent
        while folder != local_harness.root.parent:
            assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
            folder = folder.parent
        # Written whole and renamed: no temporary file is left beside it.
        assert [p.name for p in path.parent.iterdir()] == [key]

    async def test_no_presigned_url(self, local_harness: LocalHarness) -> None:
        key = await local_harness.store.put(b"x")
        assert await local_harness.store.presigned_url(key, PRESIGN) is None

    def test_default_is_the_data_directory(self, tmp_path: Path) -> None:
        store = build_media_store(Settings(data_dir=tmp_path))
        assert isinstance(store, LocalMediaStore)
        assert store.root == tmp_path / "media"
        other = build_media_store(Settings(data_dir=tmp_path, media_store=str(tmp_path / "m")))
        assert isinstance(other, LocalMediaStore) and other.root == tmp_path / "m"


# --- S3 (moto's server) ----------------------------------------------------------------------


class S3Harness(Harness):
    def __init__(self, server: S3Server, bucket: str) -> None:
        settings = Settings(**server.settings(bucket, prefix="media/objects"))
        super().__init__(lambda: build_media_store(settings))
        self.server = server
        self.bucket = bucket

    async def objects(self) -> int:
        listed = self.server.client().list_objects_v2(Bucket=self.bucket)
        names = [item["Key"] for item in listed.get("Contents", [])]
        assert all(name.startswith("media/objects/") for name in names)
        return len(names)


@pytest.fixture
async def s3_harness(s3_server: S3Server) -> AsyncIterator[S3Harness]:
    harness = S3Harness(s3_server, s3_server.new_bucket())
    harness.store = await harness.open()
    yield harness
    await harness.close()


class TestS3MediaStore(MediaStoreContract):
    @pytest.fixture
    def harness(self, s3_harness: S3Harness) -> S3Harness:
        return s3_harness

    async def test_presigned_url_serves_the_object(self, s3_harness: S3Harness) -> None:
        key = await s3_harness.store.put(b"\x89PNG presigned")
        url = await s3_harness.store.presigned_url(key, PRESIGN)
        assert url is not None and url.startswith(s3_harness.server.url)
        answer = httpx.get(url)  # no credentials: the URL's signature is all it carries
        assert answer.status_code == 200
        assert answer.content == b"\x89PNG presigned"
        assert answer.headers["content-type"] == "image/png"
        assert answer.headers["content-disposition"] == 'inline; filename="a.png"'
        tampered = url.replace(key, key[:-1] + ("0" if key[-1] != "0" else "1"))
        assert httpx.get(tampered).status_code == 403

    async def test_a_missing_bucket_fails_the_start(self, s3_server: S3Server) -> None:
        store = build_media_store(Settings(**s3_server.settings("no-such-bucket-here")))
        assert isinstance(store, S3MediaStore)
        with pytest.raises(ClientError):
            await store.start()
        await store.close()

    def test_the_secret_is_not_shown(self, s3_server: S3Server) -> None:
        store = build_media_store(Settings(**s3_server.settings("b")))
        assert isinstance(store, S3MediaStore)
        assert "do-not-log" not in repr(store._credentials)
        assert "do-not-log" not in repr(Settings(**s3_server.settings("b")))

    def test_store_url(self) -> None:
        with pytest.raises(ValueError, match="bucket"):
            Settings(media_store="s3:///prefix")
        with pytest.raises(ValueError, match="s3://"):
            Settings(media_store="gs://bucket/prefix")
