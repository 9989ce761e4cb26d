"""The media store the settings name."""

from __future__ import annotations

from pathlib import Path

import structlog

from wagate.config import Settings
from wagate.media_store import MediaStore
from wagate.media_store.local import LocalMediaStore

log = structlog.get_logger(__name__)


def build_media_store(settings: Settings) -> MediaStore:
    where = settings.media_store
    if settings.redis_url and not where:
        log.warning(
            "cluster mode with media in this node's data directory: other nodes cannot serve"
            " what this one receives; set WAGATE_MEDIA_STORE (S3 or a shared directory)"
        )
    if where and where.startswith("s3://"):
        # Imported here: the S3 client's import costs a node on the local store for nothing.
        from wagate.media_store.s3 import S3Credentials, S3Location, S3MediaStore

        secret = settings.media_s3_secret_access_key
        credentials = S3Credentials(
            endpoint_url=settings.media_s3_endpoint_url,
            region=settings.media_s3_region,
            access_key_id=settings.media_s3_access_key_id,
            secret_access_key=None if secret is None else secret.get_secret_value(),
        )
        return S3MediaStore(S3Location.parse(where), credentials)
    return LocalMediaStore(Path(where) if where else settings.data_dir / "media")
