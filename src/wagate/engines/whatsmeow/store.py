"""Where an instance's whatsmeow device store lives, and how it is deleted.

Embedded mode (SQLite gateway database): one SQLite file per instance, so instances never
share a store. PostgreSQL mode: whatsmeow's tables in the gateway's own database, shared by
every instance and every node; each instance pairs as a new device and is resumed by the exact
device JID recorded when it linked (never by its number, nor whatsmeow's GetFirstDevice: both
would pick another instance's session when two instances link one number).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy.engine import make_url

from wagate.config import Settings
from wagate.db import Database
from wagate.engines.base import InstanceRef
from wagate.engines.whatsmeow import repository
from wagate.files import SQLITE_SIDE_FILES, private_dir, private_sqlite

# libpq parameters lib/pq understands; anything else it would send as a server setting and fail.
LIBPQ_PARAMS = ("sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout")


@dataclass(frozen=True, slots=True)
class DeviceStore:
    """What the engine host needs to open an instance's store."""

    dsn: str  # a SQLite path or a postgres:// URL (secret: never logged)
    shared: bool  # True: PostgreSQL shared by all instances; resume by device JID


def postgres_dsn(database_url: str) -> str:
    """A SQLAlchemy PostgreSQL URL as a lib/pq `postgres://` URL."""
    url = make_url(database_url)
    query: dict[str, str] = {}
    for key, value in url.query.items():
        first = value[0] if isinstance(value, tuple) else value
        if key in LIBPQ_PARAMS:
            query[key] = first
        elif key == "ssl":  # asyncpg's spelling
            query["sslmode"] = "require" if first.lower() in ("true", "1") else first
    # lib/pq defaults to sslmode=require, which a local server without TLS refuses.
    query.setdefault("sslmode", "disable")
    query.setdefault("connect_timeout", "10")
    bare = url.set(drivername="postgres", query={})
    rendered = bare.render_as_string(hide_password=False)
    return f"{rendered}?{urlencode(query)}"


def sqlite_path(settings: Settings, instance: InstanceRef) -> Path:
    return settings.data_dir / "whatsmeow" / f"{instance.id}.sqlite3"


def device_store(settings: Settings, instance: InstanceRef) -> DeviceStore:
    if settings.is_sqlite:
        # The device's keys: created private before whatsmeow opens it (see wagate.files).
        path = sqlite_path(settings, instance)
        private_dir(path.parent)
        private_sqlite(path)
        return DeviceStore(dsn=str(path.resolve()), shared=False)
    return DeviceStore(dsn=postgres_dsn(settings.effective_database_url), shared=True)


async def stored_device(db: Database, instance: InstanceRef) -> str | None:
    """The device JID ("user:device@server") this instance linked as, if the shared store
    still holds it. Matched exactly: several instances may link the same number, and a match
    on the number alone would resume another instance's device."""
    if instance.device is None:
        return None
    async with db.session() as session:
        if not await repository.has_store(session):
            return None
        return await repository.device_jid(session, instance.device)


async def forget_device(settings: Settings, db: Database, instance: InstanceRef) -> None:
    """Delete the instance's device data: its SQLite file, or its rows in the shared store."""
    if settings.is_sqlite:
        path = sqlite_path(settings, instance)
        # With its side files: SQLite reuses the ids of deleted rows, so a file left behind
        # would hand the old device to the next instance that gets this id.
        for candidate in [path] + [path.with_name(path.name + end) for end in SQLITE_SIDE_FILES]:
            with contextlib.suppress(FileNotFoundError):
                candidate.unlink()
        return
    if instance.device is None:
        return  # never linked: whatsmeow saved no device of this instance
    async with db.transaction() as session:
        if await repository.has_store(session):
            await repository.delete_device(session, instance.device)
