"""Upgrading a history whose messages kept their media's key only in the JSON reference: the
key is copied to chat_messages.media_key (what the media sweep counts), on both databases;
the tables match the models; a downgrade drops what the revision added."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from tests.integration.test_migration_mediastore import _execute, empty_url
from wagate.db import Base, utcnow
from wagate.migrate import alembic_config

REVISION = "0012_history"
TABLES = ("chat_messages", "pending_message_changes")
KEY = "ab" * 32

__all__ = ["empty_url"]  # the fixture: a new SQLite file or PostgreSQL database


def _differences(connection: Any) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    found = compare_metadata(context, Base.metadata)
    # The full-text index is the migrations' own, per dialect (models.ChatMessage says why).
    return [
        diff
        for diff in found
        if any(f"'{table}'" in repr(diff) for table in TABLES) and "'search'" not in repr(diff)
    ]


async def _inspect(url: str) -> tuple[set[str], list[Any]]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
            return tables, await connection.run_sync(_differences)
    finally:
        await engine.dispose()


def test_media_keys_are_copied_out_of_the_references(empty_url: str) -> None:
    config = alembic_config(empty_url)
    before = ScriptDirectory.from_config(config).get_revision(REVISION).down_revision
    assert isinstance(before, str)
    command.upgrade(config, before)
    now = utcnow()
    insert = (
        "INSERT INTO chat_messages (instance_id, chat, message_id, from_me, kind, timestamp,"
        " status, media) VALUES (1, 'c@s.whatsapp.net', :m, false, :k, :t, 'received', :media)"
    )
    reference = {"key": KEY, "mimetype": "image/png", "size": 5, "filename": None, "url": "/m"}
    asyncio.run(
        _execute(
            empty_url,
            (
                "INSERT INTO instances (id, name, engine, token_hash, status, desired_state,"
                " settings, created_at, updated_at) VALUES (1, 'old', 'simulator', 'h',"
                " 'disconnected', 'stopped', '{}', :t, :t)",
                {"t": now},
            ),
            (insert, {"m": "PHOTO", "k": "image", "t": now, "media": json.dumps(reference)}),
            (insert, {"m": "TEXT", "k": "text", "t": now, "media": None}),
        )
    )
    command.upgrade(config, REVISION)
    [rows] = asyncio.run(
        _execute(empty_url, ("SELECT message_id, media_key FROM chat_messages ORDER BY 1", {}))
    )
    assert [tuple(row) for row in rows] == [("PHOTO", KEY), ("TEXT", None)]
    tables, differences = asyncio.run(_inspect(empty_url))
    assert set(TABLES) <= tables
    assert differences == []
    command.downgrade(config, before)
    tables, _ = asyncio.run(_inspect(empty_url))
    assert "pending_message_changes" not in tables
