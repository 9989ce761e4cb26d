"""Upgrading a database that kept received media's bytes in received_media.data: the bytes move
to the media store configured at upgrade time (local or S3), once per content, the expired rows
are dropped, the column goes; a downgrade brings the bytes back into the column."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import _pg_admin_sync, pg_async_url
from tests.support.s3 import S3Server
from wagate.config import Settings
from wagate.db import utcnow
from wagate.media_store import media_key, read_all
from wagate.media_store.build import build_media_store
from wagate.migrate import alembic_config

REVISION = "0008_mediastore"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
        return
    name = f"wagate_m_{uuid.uuid4().hex[:12]}"
    _pg_admin_sync(f'CREATE DATABASE "{name}"')
    yield pg_async_url(name)
    _pg_admin_sync(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["local", "s3"])
def store_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    values: dict[str, Any] = {"data_dir": tmp_path / "data"}
    if request.param == "s3":
        server: S3Server = request.getfixturevalue("s3_server")
        values |= server.settings(server.new_bucket())
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def _execute(url: str, *statements: tuple[str, dict[str, Any]]) -> list[Any]:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            results = []
            for sql, values in statements:
                result = await connection.execute(text(sql), values)
                results.append(result.all() if result.returns_rows else None)
            return results
    finally:
        await engine.dispose()


def _columns(url: str) -> set[str]:
    async def read() -> set[str]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as connection:
                found = await connection.run_sync(
                    lambda sync: inspect(sync).get_columns("received_media")
                )
                return {column["name"] for column in found}
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_received_media_moves_to_the_store(empty_url: str, store_settings: Settings) -> None:
    config = alembic_config(empty_url, store_settings)
    before = ScriptDirectory.from_config(config).get_revision(REVISION).down_revision
    assert isinstance(before, str)
    command.upgrade(config, before)
    photo, again, other, old = b"photo" * 100, b"photo" * 100, b"other", b"expired"
    later, earlier = utcnow() + timedelta(hours=1), utcnow() - timedelta(hours=1)
    insert = (
        "INSERT INTO received_media (instance_id, message_id, mimetype, filename, size, data,"
        " expires_at) VALUES (1, :m, 'image/png', NULL, :s, :d, :e)"
    )
    asyncio.run(
        _execute(
            empty_url,
            (
                "INSERT INTO instances (id, name, engine, token_hash, status, desired_state,"
                " settings, created_at, updated_at) VALUES (1, 'old', 'simulator', 'h',"
                " 'disconnected', 'stopped', '{}', :t, :t)",
                {"t": utcnow()},
            ),
            *[
                (insert, {"m": m, "s": len(d), "d": d, "e": e})
                for m, d, e in [
                    ("M1", photo, later),
                    ("M2", again, later),
                    ("M3", other, later),
                    ("M4", old, earlier),
                ]
            ],
        )
    )
    command.upgrade(config, REVISION)
    assert "data" not in _columns(empty_url)
    rows, objects = asyncio.run(
        _execute(
            empty_url,
            ("SELECT message_id, media_key, size FROM received_media ORDER BY message_id", {}),
            ("SELECT key, size FROM media_objects ORDER BY key", {}),
        )
    )
    assert [tuple(row) for row in rows] == [
        ("M1", media_key(photo), len(photo)),
        ("M2", media_key(photo), len(photo)),
        ("M3", media_key(other), len(other)),
    ]
    assert sorted(tuple(row) for row in objects) == sorted(
        [(media_key(photo), len(photo)), (media_key(other), len(other))]
    )

    async def stored() -> dict[str, bytes | None]:
        store = build_media_store(store_settings)
        await store.start()
        try:
            found: dict[str, bytes | None] = {}
            for data in (photo, other, old):
                key = media_key(data)
                found[key] = await read_all(store, key) if await store.exists(key) else None
            return found
        finally:
            await store.close()

    assert asyncio.run(stored()) == {
        media_key(photo): photo,
        media_key(other): other,
        media_key(old): None,
    }

    command.downgrade(config, before)
    assert "media_key" not in _columns(empty_url)
    (back,) = asyncio.run(
        _execute(empty_url, ("SELECT message_id, data FROM received_media ORDER BY message_id", {}))
    )
    assert [(m, bytes(d)) for m, d in back] == [("M1", photo), ("M2", photo), ("M3", other)]
