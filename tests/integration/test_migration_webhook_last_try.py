"""Migration 0017: a delivery row keeps its latest try. The table matches the model after it; a
delivery written before it keeps the history it had (its tries all in the attempts table, none
added from the row); a downgrade drops the columns."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import create_async_engine

from tests.integration.test_migration_mediastore import _execute, empty_url
from wagate.db import Base, Database, utcnow
from wagate.migrate import alembic_config
from wagate.models import WebhookDelivery
from wagate.webhooks import repository
from wagate.webhooks.service import history_of

REVISION = "0017_webhook_last_try"
BEFORE = "0016_webhook_created_index"
ADDED = {"last_attempted_at", "last_duration_ms"}
DELIVERY = "dlv_" + "0" * 32

__all__ = ["empty_url"]  # the fixture: a new SQLite file or PostgreSQL database


def _state(url: str) -> tuple[set[str], list[Any]]:
    def read(connection: Any) -> tuple[set[str], list[Any]]:
        columns = {
            column["name"] for column in inspect(connection).get_columns("webhook_deliveries")
        }
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = [
            diff
            for diff in compare_metadata(context, Base.metadata)
            if "'webhook_deliveries'" in repr(diff)
        ]
        return columns, differences

    async def run() -> tuple[set[str], list[Any]]:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as connection:
                return await connection.run_sync(read)
        finally:
            await engine.dispose()

    return asyncio.run(run())


async def _history(url: str) -> list[tuple[int | None, int]]:
    db = Database(url)
    try:
        async with db.session() as session:
            row = await session.get(WebhookDelivery, DELIVERY)
            assert row is not None
            rows = await repository.attempts_of(session, DELIVERY)
        return [(a.status_code, a.duration_ms) for a in history_of(row, rows)]
    finally:
        await db.close()


def test_the_latest_try_columns_come_and_go(empty_url: str) -> None:
    config = alembic_config(empty_url)
    command.upgrade(config, BEFORE)
    now = utcnow()
    asyncio.run(
        _execute(
            empty_url,
            (
                "INSERT INTO webhook_deliveries (id, event_id, event, url, target, payload,"
                " status, attempts, last_status_code, created_at, delivered_at) VALUES"
                " (:id, 'evt_1', 'message_ack', 'http://127.0.0.1:9/x', 'global', '{}',"
                " 'delivered', 2, 200, :t, :t)",
                {"id": DELIVERY, "t": now},
            ),
            *(
                (
                    "INSERT INTO webhook_attempts (delivery_id, attempted_at, status_code,"
                    " duration_ms) VALUES (:id, :t, :code, :ms)",
                    {"id": DELIVERY, "t": now, "code": code, "ms": ms},
                )
                for code, ms in ((500, 4), (200, 6))
            ),
        )
    )
    command.upgrade(config, REVISION)
    columns, differences = _state(empty_url)
    assert columns >= ADDED and differences == []
    # Nothing added from the row, nothing lost.
    assert asyncio.run(_history(empty_url)) == [(500, 4), (200, 6)]
    command.downgrade(config, BEFORE)
    columns, _ = _state(empty_url)
    assert not ADDED & columns
