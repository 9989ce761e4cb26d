"""Media on the local filesystem: <root>/<2 hex>/<2 hex>/<key>, directories 700, files 600."""

from __future__ import annotations

import asyncio
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from wagate.files import PRIVATE_FILE, private_dir
from wagate.media_store import CHUNK, MediaMissing, Presign, check_key, media_key


class LocalMediaStore:
    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, key: str) -> Path:
        check_key(key)
        return self.root / key[:2] / key[2:4] / key

    async def start(self) -> None:
        await asyncio.to_thread(private_dir, self.root)

    async def close(self) -> None:
        return None

    async def put(self, data: bytes) -> str:
        key = media_key(data)
        await asyncio.to_thread(self._write, self.path(key), data)
        return key

    def _write(self, path: Path, data: bytes) -> None:
        if path.exists():
            return
        # Level by level: mkdir's parents would be made with the umask's mode, not 700.
        private_dir(path.parent.parent)
        folder = private_dir(path.parent)
        # Written beside its place and renamed over it: a reader (or a crash) never meets a
        # half-written object. mkstemp creates the file 600.
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".put-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.chmod(tmp, PRIVATE_FILE)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    async def size(self, key: str) -> int | None:
        try:
            return (await asyncio.to_thread(self.path(key).stat)).st_size
        except FileNotFoundError:
            return None

    async def exists(self, key: str) -> bool:
        return await self.size(key) is not None

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        path = self.path(key)
        try:
            handle = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError as exc:
            raise MediaMissing(key) from exc
        try:
            await asyncio.to_thread(handle.seek, start)
            left = None if end is None else end - start + 1
            while left is None or left > 0:
                chunk = await asyncio.to_thread(
                    handle.read, CHUNK if left is None else min(CHUNK, left)
                )
                if not chunk:
                    break
                if left is not None:
                    left -= len(chunk)
                yield chunk
        finally:
            await asyncio.to_thread(handle.close)

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self.path(key).unlink, missing_ok=True)

    async def presigned_url(self, key: str, presign: Presign) -> str | None:
        return None
