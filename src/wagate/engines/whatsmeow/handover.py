"""Large bytes between the gateway and an engine host go through files, not the JSON channel.

Base64 inside a JSON frame costs 4/3 of the size on the pipe and several full copies on each
side (encode, frame, parse, decode): about a second and several times the size in memory for
a 64 MiB video. Media above INLINE_MAX is written to a file in a private hand-over directory
instead, and the frame carries its path. Small media still travels inline.

Layout: `WAGATE_DATA_DIR/whatsmeow-ipc/` (0700) holds one directory per gateway process
(`gw-…/`, 0700), next to a lock file (`gw-….lock`) that the process holds with `flock` for its
life; inside it, one directory per engine host (`host-<i>/`), emptied whenever that host
(re)starts. Outgoing media is written by the gateway and removed by it after the call, however
the call ends; inbound media is written by the host and removed by the gateway once read. A
process that died leaves its lock unlocked: the next gateway to start removes its directory.
The host reads only regular files directly inside its own directory (no symlinks).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import shutil
import stat
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from wagate.engines.base import PermanentEngineError

INLINE_MAX = 256 * 1024  # below this, base64 in the frame is cheaper than a file
DIR_NAME = "whatsmeow-ipc"


class HandoverRefused(PermanentEngineError):
    """A hand-over file the reader will not take (outside its directory, not a file, too big)."""


def private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)  # mkdir's mode is filtered by the umask
    return path


def fresh_dir(path: Path) -> Path:
    """An empty private directory: what a previous process left in it is gone."""
    shutil.rmtree(path, ignore_errors=True)
    return private_dir(path)


class Handover:
    """The gateway process's hand-over directory (created and locked on first use)."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / DIR_NAME
        self.path: Path | None = None
        self._lock_fd: int | None = None

    def ensure(self) -> Path:
        if self.path is None:
            root = private_dir(self.root).resolve()
            self._clean_stale(root)
            self.path = self._claim(root)
        return self.path

    def host_dir(self, index: int) -> Path:
        return fresh_dir(self.ensure() / f"host-{index}")

    def _claim(self, root: Path) -> Path:
        while True:
            fd, lock_name = tempfile.mkstemp(prefix="gw-", suffix=".lock", dir=root)
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_nlink:  # not removed as stale between mkstemp and flock
                break
            os.close(fd)
        self._lock_fd = fd
        return private_dir(root / Path(lock_name).name.removesuffix(".lock"))

    @staticmethod
    def _clean_stale(root: Path) -> None:
        for lock in root.glob("gw-*.lock"):
            try:
                fd = os.open(lock, os.O_RDWR | os.O_CLOEXEC)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue  # a live gateway process holds it
            try:
                # Unlinked while locked: a process that just created this lock file gets the
                # lock only after this, sees it unlinked, and claims another.
                with contextlib.suppress(FileNotFoundError):
                    lock.unlink()
                shutil.rmtree(root / lock.name.removesuffix(".lock"), ignore_errors=True)
            finally:
                os.close(fd)
        for folder in root.glob("gw-*"):
            # A directory is made after its lock: one without a lock lost its owner mid-cleanup.
            if folder.is_dir() and not folder.with_name(folder.name + ".lock").exists():
                shutil.rmtree(folder, ignore_errors=True)

    def close(self) -> None:
        if self.path is None:
            return
        shutil.rmtree(self.path, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.with_name(self.path.name + ".lock").unlink()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
        self.path, self._lock_fd = None, None


# --- writing and reading one file ----------------------------------------------------------


def _write_fd(fd: int, data: bytes) -> None:
    with os.fdopen(fd, "wb") as file:
        file.write(data)


def read(directory: Path, name: str, limit: int) -> bytes:
    """The bytes of hand-over file `name`, which must be a regular file right in `directory`."""
    path = Path(name)
    base = path.name
    if (
        not path.is_absolute()
        or base in ("", ".", "..")
        or os.path.realpath(path.parent) != os.path.realpath(directory)
    ):
        raise HandoverRefused("the media file is not in the hand-over directory")
    try:
        # O_NONBLOCK: a FIFO planted here must not hang the reader; no effect on files.
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as exc:
        raise HandoverRefused(f"the media file cannot be opened: {exc.strerror}") from exc
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_size > limit:
        os.close(fd)
        if not stat.S_ISREG(info.st_mode):
            raise HandoverRefused("the media file is not a regular file")
        raise HandoverRefused(f"the media file is larger than {limit} bytes")
    with os.fdopen(fd, "rb") as file:
        data = file.read(limit + 1)
    if len(data) > limit:
        raise HandoverRefused(f"the media file is larger than {limit} bytes")
    return data


def take(directory: Path, name: str, limit: int) -> bytes:
    """`read`, then remove the file (only ever a file inside `directory`)."""
    try:
        return read(directory, name, limit)
    finally:
        if os.path.realpath(Path(name).parent) == os.path.realpath(directory):
            with contextlib.suppress(OSError):
                os.unlink(name)


# --- media dicts on the wire ---------------------------------------------------------------
# Inline: {"data": <bytes>, "mimetype", "filename"}; handed over: {"file": <path>, "size": n, ...}


@contextlib.asynccontextmanager
async def media_out(
    directory: Path | None, media: dict[str, Any] | None
) -> AsyncIterator[dict[str, Any] | None]:
    """The wire form of an outgoing media dict, its file removed when the block ends."""
    data = media.get("data") if media is not None else None
    if media is None or directory is None or data is None or len(data) <= INLINE_MAX:
        yield media
        return
    fd, name = tempfile.mkstemp(prefix="out-", dir=directory)  # 0600
    try:
        await asyncio.to_thread(_write_fd, fd, data)
        wire = {key: value for key, value in media.items() if key != "data"}
        yield {**wire, "file": name, "size": len(data)}
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)


async def media_in(media: dict[str, Any], directory: Path, limit: int, *, remove: bool) -> None:
    """Replace a handed-over media dict's `file` by its `data`, in place."""
    if "file" not in media:
        return
    name = str(media.pop("file"))
    media.pop("size", None)
    media["data"] = await asyncio.to_thread(take if remove else read, directory, name, limit)


async def media_to_file(media: dict[str, Any], directory: Path) -> None:
    """Move a large inline media dict's `data` into a hand-over file, in place."""
    data = media.get("data")
    if data is None or len(data) <= INLINE_MAX:
        return
    fd, name = tempfile.mkstemp(prefix="in-", dir=directory)
    try:
        await asyncio.to_thread(_write_fd, fd, data)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
        raise
    del media["data"]
    media.update(file=name, size=len(data))
