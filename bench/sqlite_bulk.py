"""The drain's many-row writes on SQLite: the CPU of the event loop's thread per row, through
`repository.bulk` (SQLite's own statement text, a tuple of parameters per row) and, as the
baseline in the same run, through SQLAlchemy's executemany of the same statement with a dict
per row (what `bulk` did before).

    .venv/bin/python -m bench.sqlite_bulk [--rows 500] [--rounds 30]

Three writes of a message's life, each in its own transaction on a fresh SQLite file: the
history's row of a send (INSERT ... ON CONFLICT DO UPDATE), a webhook delivery (INSERT) and
its outcome (UPDATE by two keys with constants). The database work runs on the connection's
thread and is not counted: the figure is what the writes cost the event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any, cast

import uvloop
from sqlalchemy import Table, insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from tests.support.rows import add_instance

from wagate.db import Database, utcnow
from wagate.history.repository.store import _link_send
from wagate.migrate import upgrade_to_head
from wagate.models import ChatMessage, WebhookDelivery
from wagate.repository.bulk import _update, insert_many, update_many

CHAT_MESSAGES = cast(Table, ChatMessage.__table__)
DELIVERIES = cast(Table, WebhookDelivery.__table__)
OUTCOME_KEYS = ("id", "claim_token")
OUTCOME_CONSTANTS = {"claim_token": None, "claimed_until": None}

Write = Callable[[AsyncSession, list[dict[str, Any]]], Awaitable[None]]


async def history_bulk(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    await insert_many(session, CHAT_MESSAGES, rows, conflict=_link_send)


async def history_sqlalchemy(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    await session.execute(_link_send(sqlite_insert(CHAT_MESSAGES)), rows)


async def delivery_bulk(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    await insert_many(session, DELIVERIES, rows)


async def delivery_sqlalchemy(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    await session.execute(insert(DELIVERIES), rows)


def outcomes(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    at = utcnow()
    return [
        {
            "id": row["id"],
            "claim_token": None,
            "status": "delivered",
            "attempts": 1,
            "last_attempted_at": at,
            "last_status_code": 200,
        }
        for row in rows
    ]


async def outcome_bulk(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    await update_many(session, DELIVERIES, OUTCOME_KEYS, outcomes(rows), OUTCOME_CONSTANTS)


async def outcome_sqlalchemy(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    items = outcomes(rows)
    names = tuple(name for name in items[0] if name not in OUTCOME_KEYS)
    statement = _update(
        DELIVERIES, OUTCOME_KEYS, names, tuple(OUTCOME_CONSTANTS), None, from_arrays=False
    )
    constants = {f"{name}__const": value for name, value in OUTCOME_CONSTANTS.items()}
    await session.execute(
        statement,
        [
            {f"{key}__key": item[key] for key in OUTCOME_KEYS}
            | {f"{name}__value": item[name] for name in names}
            | constants
            for item in items
        ],
    )


WRITES: dict[str, tuple[Write, Write]] = {
    "history row of a send (INSERT ... ON CONFLICT)": (history_bulk, history_sqlalchemy),
    "webhook delivery (INSERT)": (delivery_bulk, delivery_sqlalchemy),
    "delivery outcome (UPDATE)": (outcome_bulk, outcome_sqlalchemy),
}


def batch(instance_id: int, prefix: str, count: int) -> tuple[list[dict[str, Any]], ...]:
    now = utcnow()
    history = [
        {
            "instance_id": instance_id,
            "chat": "15550001111@s.whatsapp.net",
            "message_id": f"{prefix}-{n}",
            "from_me": True,
            "kind": "text",
            "text": f"message {n}",
            "timestamp": now,
            "status": "sent",
            "extra": None,
            "correlation_id": f"c-{prefix}-{n}",
        }
        for n in range(count)
    ]
    deliveries = [
        {
            "id": f"dlv_{prefix}{n:024x}",
            "event_id": f"evt_{prefix}-{n}",
            "instance_id": instance_id,
            "event": "message_ack",
            "url": "http://127.0.0.1:9/hook",
            "target": "instance",
            "payload": '{"event":"message_ack"}',
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for n in range(count)
    ]
    return history, deliveries, deliveries


async def measure(rows: int, rounds: int) -> dict[str, list[float]]:
    """µs of the loop thread's CPU per row: [bulk, SQLAlchemy] for each write, the two taking
    turns round by round so that both see the same machine."""
    spent = {name: [0.0, 0.0] for name in WRITES}
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite+aiosqlite:///{directory}/bench.db"
        await asyncio.to_thread(upgrade_to_head, url)
        db = Database(url)
        try:
            instance_id = await add_instance(db, "bench")
            for round_ in range(rounds):
                for way in (0, 1):
                    data = batch(instance_id, f"{round_:06x}{way}", rows)
                    for (name, writes), items in zip(WRITES.items(), data, strict=True):
                        started = time.thread_time()
                        async with db.transaction() as session:
                            await writes[way](session, items)
                        spent[name][way] += time.thread_time() - started
        finally:
            await db.close()
    return {name: [1e6 * s / (rows * rounds) for s in pair] for name, pair in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=500, help="rows per statement")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    figures = uvloop.run(measure(args.rows, args.rounds))
    print(f"{args.rows} rows a statement, {args.rounds} rounds; µs of the loop's CPU per row")
    for name, (bulk, baseline) in figures.items():
        print(f"{name}: bulk {bulk:.1f}, SQLAlchemy {baseline:.1f}, ratio {bulk / baseline:.2f}")


if __name__ == "__main__":
    main()
