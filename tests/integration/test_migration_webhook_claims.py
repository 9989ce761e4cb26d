"""Migration 0015: a webhook delivery's claim lease gets a column of its own; the rows
written before keep their values, and a downgrade keeps a claimed row's lease the old way
(as its next attempt's time)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from alembic import command

from tests.integration.test_migration_mediastore import _execute, empty_url
from wagate.db import utcnow
from wagate.migrate import alembic_config

REVISION = "0015_webhook_claims"
BEFORE = "0014_receipt_times"

__all__ = ["empty_url"]  # the fixture: a new SQLite file or PostgreSQL database

INSERT = (
    "INSERT INTO webhook_deliveries (id, event_id, instance_id, event, url, target, payload,"
    " status, attempts, next_attempt_at, claim_token, created_at) VALUES (:id, 'e', NULL,"
    " 'message_ack', 'http://127.0.0.1:9/hook', 'global', '{}', :status, 0, :next, :token, :t)"
)


def _rows(url: str) -> dict[str, tuple[Any, ...]]:
    sql = "SELECT id, status, next_attempt_at, claim_token{} FROM webhook_deliveries"
    columns = ", claimed_until" if _has_lease(url) else ""
    (found,) = asyncio.run(_execute(url, (sql.format(columns), {})))
    return {row[0]: tuple(row[1:]) for row in found}


def _has_lease(url: str) -> bool:
    if url.startswith("sqlite"):
        sql = "SELECT count(*) FROM pragma_table_info('webhook_deliveries')"
        sql += " WHERE name = 'claimed_until'"
    else:
        sql = "SELECT count(*) FROM information_schema.columns"
        sql += " WHERE table_name = 'webhook_deliveries' AND column_name = 'claimed_until'"
    (found,) = asyncio.run(_execute(url, (sql, {})))
    return bool(found[0][0])


def test_the_lease_gets_its_own_column(empty_url: str) -> None:
    config = alembic_config(empty_url)
    command.upgrade(config, BEFORE)
    now = utcnow()
    lease = now + timedelta(minutes=5)
    asyncio.run(
        _execute(
            empty_url,
            (INSERT, {"id": "d-due", "status": "pending", "next": now, "token": None, "t": now}),
            (INSERT, {"id": "d-held", "status": "pending", "next": lease, "token": "k", "t": now}),
        )
    )
    before = _rows(empty_url)

    command.upgrade(config, REVISION)
    assert _has_lease(empty_url)
    after = _rows(empty_url)
    assert {key: row[:3] for key, row in after.items()} == before
    assert [row[3] for row in after.values()] == [None, None]  # an old claim: by its time

    held_until = now + timedelta(minutes=9)
    asyncio.run(
        _execute(
            empty_url,
            (
                "UPDATE webhook_deliveries SET claim_token = 'n', claimed_until = :u,"
                " next_attempt_at = :t WHERE id = 'd-due'",
                {"u": held_until, "t": now},
            ),
        )
    )
    command.downgrade(config, BEFORE)
    assert not _has_lease(empty_url)
    moved = _rows(empty_url)
    assert moved["d-held"] == before["d-held"]
    assert moved["d-due"][2] == "n" and moved["d-due"][1] is not None
    assert moved["d-due"][1] != before["d-due"][1]  # its lease's end, not the time it was due
