"""Where an instance's whatsmeow device store lives, and how it is deleted.

Embedded mode (SQLite gateway database): one SQLite file per instance, so instances never
share a store. PostgreSQL mode: whatsmeow's tables in the gateway's own database, shared by
every instance and every node; each instance pairs as a new device and is resumed by its own
device JID (never whatsmeow's GetFirstDevice, which would pick another instance's session).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.config import Settings
from wagate.db import Database
from wagate.engines.base import InstanceRef

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


_SIDE_FILES = ("-journal", "-wal", "-shm")


def sqlite_path(settings: Settings, instance: InstanceRef) -> Path:
    return settings.data_dir / "whatsmeow" / f"{instance.id}.sqlite3"


def device_store(settings: Settings, instance: InstanceRef) -> DeviceStore:
    if settings.is_sqlite:
        path = sqlite_path(settings, instance)
        path.parent.mkdir(parents=True, exist_ok=True)
        return DeviceStore(dsn=str(path.resolve()), shared=False)
    return DeviceStore(dsn=postgres_dsn(settings.effective_database_url), shared=True)


def device_user(jid: str | None) -> str | None:
    """The phone-number part of a JID ("5511...@s.whatsapp.net" -> "5511...")."""
    if not jid:
        return None
    user = jid.split("@", 1)[0]
    return user.split(":", 1)[0].split(".", 1)[0] or None


def _patterns(user: str) -> dict[str, str]:
    return {
        "plain": f"{user}@s.whatsapp.net",
        "device": f"{user}:%@s.whatsapp.net",
        "agent": f"{user}.%@s.whatsapp.net",
    }


def _match(column: str) -> str:
    return f"{column} = :plain OR {column} LIKE :device OR {column} LIKE :agent"


async def _has_store(session: AsyncSession) -> bool:
    return bool(await session.scalar(text("SELECT to_regclass('whatsmeow_device') IS NOT NULL")))


async def stored_device(db: Database, instance: InstanceRef) -> str | None:
    """The device JID ("user:device@server") this instance paired as, in the shared store."""
    user = device_user(instance.jid)
    if user is None:
        return None
    async with db.session() as session:
        if not await _has_store(session):
            return None
        found = await session.scalar(
            text(f"SELECT jid FROM whatsmeow_device WHERE {_match('jid')} LIMIT 1"),  # noqa: S608
            _patterns(user),
        )
    return str(found) if found else None


async def forget_device(settings: Settings, db: Database, instance: InstanceRef) -> None:
    """Delete the instance's device data: its SQLite file, or its rows in the shared store."""
    if settings.is_sqlite:
        path = sqlite_path(settings, instance)
        # With its side files: SQLite reuses the ids of deleted rows, so a file left behind
        # would hand the old device to the next instance that gets this id.
        for candidate in [path] + [path.with_name(path.name + end) for end in _SIDE_FILES]:
            with contextlib.suppress(FileNotFoundError):
                candidate.unlink()
        return
    user = device_user(instance.jid)
    if user is None:
        return  # never paired: whatsmeow saved no device
    async with db.transaction() as session:
        if not await _has_store(session):
            return
        # The other whatsmeow_* tables reference the device row with ON DELETE CASCADE, except
        # the privacy tokens (no foreign key). The LID map is shared knowledge, not the device's.
        for table, column in (("whatsmeow_device", "jid"), ("whatsmeow_privacy_tokens", "our_jid")):
            await session.execute(
                text(f"DELETE FROM {table} WHERE {_match(column)}"),  # noqa: S608 (fixed names)
                _patterns(user),
            )
