"""Migration 0014: the messages a receipt had moved to `delivered` or `read` are stored as
sent with the receipt's time (the status column is the send's own life from now on), shown
as before by the API's reading of them; a downgrade stores the receipts' statuses again."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from alembic import command

from tests.integration.test_migration_mediastore import _execute, empty_url
from wagate.db import utcnow
from wagate.message_status import shown
from wagate.migrate import alembic_config

REVISION = "0014_receipt_times"
BEFORE = "0013_partial_indexes"

__all__ = ["empty_url"]  # the fixture: a new SQLite file or PostgreSQL database

# correlation id -> (status before, delivered_at set, read_at set)
ROWS = {
    "c-sent": ("sent", False, False),
    "c-delivered": ("delivered", True, False),
    "c-read": ("read", True, True),
    "c-read-alone": ("read", False, False),  # a read with no time kept (the row's time is it)
    "c-delivered-untimed": ("delivered", False, False),
    "c-failed": ("failed", False, False),
    "c-queued": ("queued", False, False),
}


def _rows(url: str) -> dict[str, tuple[str, Any, Any]]:
    (found,) = asyncio.run(
        _execute(url, ("SELECT correlation_id, status, delivered_at, read_at FROM messages", {}))
    )
    return {cid: (status, delivered, read) for cid, status, delivered, read in found}


def test_receipted_messages_keep_their_status_as_times(empty_url: str) -> None:
    config = alembic_config(empty_url)
    command.upgrade(config, BEFORE)
    now = utcnow()
    at = now - timedelta(minutes=5)
    inserts: list[tuple[str, dict[str, Any]]] = [
        (
            "INSERT INTO instances (id, name, engine, token_hash, status, desired_state,"
            " settings, created_at, updated_at) VALUES (1, 'old', 'simulator', 'h',"
            " 'disconnected', 'stopped', '{}', :t, :t)",
            {"t": now},
        )
    ]
    for cid, (status, delivered, read) in ROWS.items():
        inserts.append(
            (
                'INSERT INTO messages (correlation_id, instance_id, kind, "to", to_jid, body,'
                " status, attempts, max_attempts, dead_lettered, created_at, updated_at,"
                " delivered_at, read_at) VALUES (:cid, 1, 'text', '1', '1@s.whatsapp.net',"
                " '{}', :status, 1, 3, false, :t, :t, :d, :r)",
                {
                    "cid": cid,
                    "status": status,
                    "t": now,
                    "d": at if delivered else None,
                    "r": at if read else None,
                },
            )
        )
    asyncio.run(_execute(empty_url, *inserts))

    command.upgrade(config, REVISION)
    stored = _rows(empty_url)
    # Only sent, failed and open statuses are stored; what the API shows is what it was.
    assert {status for status, _, _ in stored.values()} == {"sent", "failed", "queued"}
    assert {cid: shown(*row) for cid, row in stored.items()} == {
        cid: status for cid, (status, _, _) in ROWS.items()
    }
    assert stored["c-read-alone"][1] is None and stored["c-read-alone"][2] is not None
    assert stored["c-delivered-untimed"][1] is not None

    command.downgrade(config, BEFORE)
    assert {cid: row[0] for cid, row in _rows(empty_url).items()} == {
        cid: status for cid, (status, _, _) in ROWS.items()
    }
