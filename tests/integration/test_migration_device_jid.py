"""Upgrading a PostgreSQL database whose instances were linked before device JIDs were
recorded: an instance gets its device filled in only when that is certain (its number has
one device in the shared store and no other instance); anything ambiguous stays unset, so
that instance pairs anew rather than resuming or deleting another's device."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import _pg_admin_sync, pg_async_url
from wagate.migrate import alembic_config

pytestmark = pytest.mark.postgres


@pytest.fixture
def empty_database() -> Iterator[str]:
    name = f"wagate_m_{uuid.uuid4().hex[:12]}"
    _pg_admin_sync(f'CREATE DATABASE "{name}"')
    yield name
    _pg_admin_sync(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_upgrade_fills_in_only_unambiguous_devices(empty_database: str) -> None:
    config = alembic_config(pg_async_url(empty_database))
    command.upgrade(config, "0001")
    instances = {  # name: jid
        "alone": "111@s.whatsapp.net",  # one device, one instance: certain
        "twin-a": "222@s.whatsapp.net",  # two instances of one number: which device is whose?
        "twin-b": "222@s.whatsapp.net",
        "two-devices": "333@s.whatsapp.net",  # two devices of the number: which one?
        "unlinked": None,
    }
    devices = ["111:3@s.whatsapp.net", "222:4@s.whatsapp.net"]
    devices += ["333:1@s.whatsapp.net", "333:2@s.whatsapp.net", "999:9@s.whatsapp.net"]

    async def seed() -> None:
        engine = create_async_engine(pg_async_url(empty_database))
        try:
            async with engine.begin() as connection:
                await connection.execute(
                    text("CREATE TABLE whatsmeow_device (jid TEXT PRIMARY KEY)")
                )
                for jid in devices:
                    await connection.execute(
                        text("INSERT INTO whatsmeow_device (jid) VALUES (:jid)"), {"jid": jid}
                    )
                for name, jid in instances.items():
                    await connection.execute(
                        text(
                            "INSERT INTO instances (name, engine, token_hash, status,"
                            " desired_state, jid, settings, created_at, updated_at) VALUES"
                            " (:name, 'whatsmeow', :hash, 'disconnected', 'stopped', :jid,"
                            " '{}', now(), now())"
                        ),
                        {"name": name, "hash": uuid.uuid4().hex, "jid": jid},
                    )
        finally:
            await engine.dispose()

    async def found() -> dict[str, str | None]:
        engine = create_async_engine(pg_async_url(empty_database))
        try:
            async with engine.connect() as connection:
                rows = await connection.execute(text("SELECT name, device_jid FROM instances"))
                return {row.name: row.device_jid for row in rows}
        finally:
            await engine.dispose()

    asyncio.run(seed())  # as an older version left it (whatsmeow's table: its key column only)
    command.upgrade(config, "head")
    assert asyncio.run(found()) == {
        "alone": "111:3@s.whatsapp.net",
        "twin-a": None,
        "twin-b": None,
        "two-devices": None,
        "unlinked": None,
    }
