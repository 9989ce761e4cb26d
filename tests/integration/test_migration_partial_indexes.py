"""Migration 0013: the messages' WhatsApp id and dead letters' indexes and the webhook
deliveries' due index are partial, on both databases; the tables' indexes match the models;
the claim, the dead-letter list and a receipt's read find their rows through them (the query
plans name the indexes); a downgrade brings the full indexes back."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import command
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from tests.integration.test_migration_history import _differences
from tests.integration.test_migration_mediastore import _execute, empty_url
from wagate.db import utcnow
from wagate.messages.repository import dead_letters_query
from wagate.migrate import alembic_config
from wagate.models import Message
from wagate.webhooks import repository as webhooks

REVISION = "0013_partial_indexes"
TABLES = ("messages", "webhook_deliveries")
DUE = "ix_webhook_deliveries_due"
DEAD = "ix_messages_dead_lettered"
WHATSAPP_ID = "ix_messages_message_id"

__all__ = ["empty_url"]  # the fixture: a new SQLite file or PostgreSQL database


def _indexes(url: str) -> dict[str, str]:
    """Index name -> its definition (PostgreSQL) or its SQL (SQLite), of the two tables."""
    if url.startswith("sqlite"):
        sql = "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name IN ({})"
    else:
        sql = "SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN ({})"
    tables = ", ".join(f"'{table}'" for table in TABLES)
    (rows,) = asyncio.run(_execute(url, (sql.format(tables), {})))
    return {name: str(definition) for name, definition in rows}


async def _plan(url: str, statement: Any) -> str:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            compiled = statement.compile(
                dialect=connection.dialect, compile_kwargs={"literal_binds": True}
            )
            explain = "EXPLAIN QUERY PLAN"
            if not url.startswith("sqlite"):
                # The tables are empty: whether the index can serve, not whether it is cheaper.
                await connection.exec_driver_sql("SET enable_seqscan = off")
                explain = "EXPLAIN"
            result = await connection.exec_driver_sql(f"{explain} {compiled}")
            return "\n".join(str(row) for row in result.all())
    finally:
        await engine.dispose()


async def _compare(url: str) -> list[Any]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            found = await connection.run_sync(_differences)
            return [diff for diff in found if any(f"'{t}'" in repr(diff) for t in TABLES)]
    finally:
        await engine.dispose()


def test_the_indexes_are_partial_and_used(empty_url: str) -> None:
    config = alembic_config(empty_url)
    command.upgrade(config, REVISION)
    found = _indexes(empty_url)
    assert "pending" in found[DUE] and "status" not in found[DUE].split("WHERE")[0]
    assert "dead_lettered" in found[DEAD].split("WHERE")[1]
    assert "NOT NULL" in found[WHATSAPP_ID].upper().split("WHERE")[1]
    assert asyncio.run(_compare(empty_url)) == []

    due = (  # the claim's subquery
        select(webhooks.D.id)
        .where(webhooks.PENDING_ROWS, webhooks.D.next_attempt_at <= utcnow())
        .order_by(webhooks.D.next_attempt_at)
        .limit(10)
    )
    assert DUE in asyncio.run(_plan(empty_url, due))
    assert DEAD in asyncio.run(_plan(empty_url, dead_letters_query(None).limit(10)))
    by_whatsapp_id = select(Message.id).where(Message.message_id.in_(["3EB0A", "3EB0B"]))
    assert WHATSAPP_ID in asyncio.run(_plan(empty_url, by_whatsapp_id))  # what receipts read

    command.downgrade(config, "0012_history")
    found = _indexes(empty_url)
    assert all("WHERE" not in found[name].upper() for name in (DUE, DEAD, WHATSAPP_ID))
