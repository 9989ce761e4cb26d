"""Where media bytes live: one interface (`MediaStore`), content-addressed, with a local
filesystem backend (the default, under the data directory) and an S3-compatible one.

A key is the SHA-256 of the bytes in hex: the same file received twice (or by two instances)
is one object, and a key names its content, so an object is never rewritten with other bytes.
Which rows refer to a key, and when an object may go, is the database's business
(wagate.media_store.refs); a store only keeps bytes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

KEY = re.compile(r"[0-9a-f]{64}")
# What one read hands on at a time: a large video is streamed, never held whole.
CHUNK = 256 * 1024


def media_key(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_key(key: str) -> str:
    """A key is only ever a hex digest: nothing else reaches a path or an object name."""
    if not KEY.fullmatch(key):
        raise ValueError("not a media key")
    return key


class MediaMissing(Exception):
    """The object is not in the store (deleted, or lost by the store)."""


@dataclass(frozen=True)
class Presign:
    """How a presigned URL's answer is to be shown: the type and disposition the gateway's
    own answer would have had."""

    content_type: str
    disposition: str
    expires_s: int


class MediaStore(Protocol):
    """Bytes by content key. Every method may be called concurrently."""

    # "local" or "s3": for the logs and /health.
    @property
    def name(self) -> str: ...

    async def start(self) -> None:
        """Open what the store needs (a client, the directory); fails when it cannot."""

    async def close(self) -> None: ...

    async def put(self, data: bytes) -> str:
        """Store the bytes (atomically: a reader sees all of them or none) and return their key.
        Bytes already stored are not written again."""

    async def size(self, key: str) -> int | None:
        """The object's size, None when it is missing."""

    async def exists(self, key: str) -> bool: ...

    def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """The bytes start..end (inclusive, as in HTTP ranges; None: to the end), in chunks.
        Raises MediaMissing (on the first iteration) when the object is missing."""

    async def delete(self, key: str) -> None:
        """Remove the object; a missing one is no error."""

    async def presigned_url(self, key: str, presign: Presign) -> str | None:
        """A short-lived URL that serves the object without the gateway; None when the
        store has no such thing (the local filesystem)."""


async def read_all(store: MediaStore, key: str) -> bytes:
    return b"".join([chunk async for chunk in store.read(key)])
