"""Media in an S3-compatible store (AWS S3, MinIO, Ceph, R2, ...) through aiobotocore.

Objects are named <prefix>/<key>. The credentials are the settings' (or, when unset, botocore's
own chain: environment, profile, instance role); the secret is handed to the client only,
never logged or shown.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from wagate.media_store import CHUNK, MediaMissing, Presign, check_key, media_key

MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str

    @classmethod
    def parse(cls, url: str) -> S3Location:
        """s3://bucket/prefix (the prefix may be empty or have several parts)."""
        if not url.startswith("s3://"):
            raise ValueError("an S3 media store is written s3://bucket/prefix")
        bucket, _, prefix = url[len("s3://") :].partition("/")
        if not bucket:
            raise ValueError("the S3 media store URL names no bucket")
        return cls(bucket, prefix.strip("/"))


@dataclass(frozen=True)
class S3Credentials:
    endpoint_url: str | None
    region: str
    access_key_id: str | None
    secret_access_key: str | None = None

    def __repr__(self) -> str:  # never the secret, whatever prints this
        return f"S3Credentials(endpoint_url={self.endpoint_url!r}, region={self.region!r})"


def _missing(exc: ClientError) -> bool:
    return str(exc.response.get("Error", {}).get("Code", "")) in MISSING_CODES


class S3MediaStore:
    name = "s3"

    def __init__(self, location: S3Location, credentials: S3Credentials) -> None:
        self.location = location
        self._credentials = credentials
        self._stack = AsyncExitStack()
        self._client: Any = None

    def object_name(self, key: str) -> str:
        check_key(key)
        prefix = self.location.prefix
        return f"{prefix}/{key}" if prefix else key

    @property
    def client(self) -> Any:
        if self._client is None:
            raise RuntimeError("the S3 media store is not started")
        return self._client

    async def start(self) -> None:
        c = self._credentials
        config = AioConfig(
            signature_version="s3v4",
            # Path-style addressing: what MinIO and most self-hosted stores answer (AWS too).
            s3={"addressing_style": "path"},
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=10,
            read_timeout=60,
        )
        self._client = await self._stack.enter_async_context(
            get_session().create_client(
                "s3",
                endpoint_url=c.endpoint_url or None,
                region_name=c.region,
                aws_access_key_id=c.access_key_id or None,
                aws_secret_access_key=c.secret_access_key or None,
                config=config,
            )
        )
        # Fails the start (with the store's own reason) rather than every media later.
        await self._client.head_bucket(Bucket=self.location.bucket)

    async def close(self) -> None:
        self._client = None
        await self._stack.aclose()

    async def put(self, data: bytes) -> str:
        key = media_key(data)
        if not await self.exists(key):
            await self.client.put_object(
                Bucket=self.location.bucket, Key=self.object_name(key), Body=data
            )
        return key

    async def size(self, key: str) -> int | None:
        try:
            head = await self.client.head_object(
                Bucket=self.location.bucket, Key=self.object_name(key)
            )
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        return int(head["ContentLength"])

    async def exists(self, key: str) -> bool:
        return await self.size(key) is not None

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        asked: dict[str, str] = {}
        # The whole object is asked without a range: an empty one has no byte 0 to start at.
        if start or end is not None:
            asked["Range"] = f"bytes={start}-" if end is None else f"bytes={start}-{end}"
        try:
            answer = await self.client.get_object(
                Bucket=self.location.bucket, Key=self.object_name(key), **asked
            )
        except ClientError as exc:
            if _missing(exc):
                raise MediaMissing(key) from exc
            raise
        body = answer["Body"]
        try:
            while chunk := await body.read(CHUNK):
                yield chunk
        finally:
            body.close()

    async def delete(self, key: str) -> None:
        await self.client.delete_object(Bucket=self.location.bucket, Key=self.object_name(key))

    async def presigned_url(self, key: str, presign: Presign) -> str | None:
        url = await self.client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.location.bucket,
                "Key": self.object_name(key),
                # The store answers with the type and disposition the gateway would have sent.
                "ResponseContentType": presign.content_type,
                "ResponseContentDisposition": presign.disposition,
            },
            ExpiresIn=presign.expires_s,
        )
        return str(url)
