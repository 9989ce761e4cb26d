"""Migration 0016: the index of webhook deliveries' created_at goes (the cleanup reads a row's
age from its time-ordered id); a downgrade brings it back."""

from __future__ import annotations

import asyncio

from alembic import command

from tests.integration.test_migration_mediastore import _execute, empty_url
from wagate.migrate import alembic_config

REVISION = "0016_webhook_created_index"
BEFORE = "0015_webhook_claims"
INDEX = "ix_webhook_deliveries_created_at"

__all__ = ["empty_url"]  # the fixture: a new SQLite file or PostgreSQL database


def _indexes(url: str) -> set[str]:
    if url.startswith("sqlite"):
        sql = "SELECT name FROM sqlite_master WHERE type = 'index'"
        sql += " AND tbl_name = 'webhook_deliveries'"
    else:
        sql = "SELECT indexname FROM pg_indexes WHERE tablename = 'webhook_deliveries'"
    (found,) = asyncio.run(_execute(url, (sql, {})))
    return {row[0] for row in found}


def test_the_created_at_index_goes_and_comes_back(empty_url: str) -> None:
    config = alembic_config(empty_url)
    command.upgrade(config, BEFORE)
    before = _indexes(empty_url)
    assert INDEX in before
    command.upgrade(config, REVISION)
    assert _indexes(empty_url) == before - {INDEX}
    command.downgrade(config, BEFORE)
    assert _indexes(empty_url) == before
