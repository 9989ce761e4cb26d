"""`insert_messages` and `insert_queued`, the writes of the send routes: many rows in one
INSERT on both databases, each id handed back at its row's place, media attached to its own
message."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError

from tests.support.rows import add_instance
from wagate.db import Database, utcnow
from wagate.message_status import MessageStatus
from wagate.messages.repository import insert_messages, insert_queued
from wagate.models import Message, OutgoingMedia
from wagate.repository import bulk

ROWS = 40


def _row(instance_id: int, n: int) -> dict[str, Any]:
    now = utcnow()
    return {
        # Not in the order of the rows: the ids must follow the rows, not the keys.
        "correlation_id": f"c{(n * 7919) % 1000:04d}-{n}",
        "instance_id": instance_id,
        "kind": "text",
        "to": "+15550001111",
        "to_jid": "15550001111@s.whatsapp.net",
        "body": {"text": f"text {n}"},
        "status": MessageStatus.QUEUED,
        "attempts": 0,
        "max_attempts": 3,
        "dead_lettered": False,
        "created_at": now,
        "updated_at": now,
    }


async def test_many_rows_are_one_insert_and_each_id_is_its_rows(database_url: str) -> None:
    db = Database(database_url)
    inserts: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO MESSAGES"):
            inserts.append(statement)

    try:
        instance_id = await add_instance(db, "inserts")
        rows = [_row(instance_id, n) for n in range(ROWS)]
        media: list[OutgoingMedia | None] = [None] * ROWS
        media[5] = OutgoingMedia(mimetype="image/png", filename="five.png", data=b"5")
        media[31] = OutgoingMedia(mimetype="image/png", filename=None, data=b"31")
        event.listen(db.engine.sync_engine, "before_cursor_execute", count)
        async with db.transaction() as session:
            ids = await insert_messages(session, rows, media)
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)
        # One statement for the batch: SQLite made one per row when the ids were asked for in
        # the order of the rows.
        assert len(inserts) == 1
        assert len(set(ids)) == ROWS
        async with db.session() as session:
            bodies = await session.execute(select(Message.id, Message.body))
            stored = {pk: body for pk, body in bodies.all()}
            files = await session.execute(select(OutgoingMedia.message_pk, OutgoingMedia.data))
            attached = {pk: data for pk, data in files.all()}
        assert [stored[pk] for pk in ids] == [row["body"] for row in rows]
        assert attached == {ids[5]: b"5", ids[31]: b"31"}
    finally:
        await db.close()


async def test_queued_rows_commit_alone_and_read_back_as_written(
    database_url: str, monkeypatch: Any
) -> None:
    """`insert_queued` (the accept's write without media): on SQLite SQLite's own statement and
    its commit in one trip, the values bound as SQLAlchemy binds them; every column reads back
    as it was given, and the ids follow the rows."""
    # Two rows a statement on SQLite: the batch is split, and still one transaction.
    monkeypatch.setattr(bulk, "SQLITE_MAX_PARAMETERS", 2 * len(_row(0, 0)))
    db = Database(database_url)
    try:
        instance_id = await add_instance(db, "queued")
        rows = [_row(instance_id, n) for n in range(7)]
        async with db.api_single_write() as connection:
            ids = await insert_queued(connection, rows)
        assert len(set(ids)) == len(rows)
        async with db.session() as session:
            stored = {m.id: m for m in (await session.execute(select(Message))).scalars()}
        for pk, row in zip(ids, rows, strict=True):
            message = stored[pk]
            assert {name: getattr(message, name) for name in row} == row

        # A row the database refuses (no such instance) fails the whole batch as SQLAlchemy
        # raises it, nothing of it is kept, and the pool's connections still write.
        bad = [_row(instance_id, 100), _row(instance_id, 101), _row(instance_id + 999, 102)]
        with pytest.raises(IntegrityError):
            async with db.api_single_write() as connection:
                await insert_queued(connection, bad)
        more = [_row(instance_id, 200)]
        async with db.api_single_write() as connection:
            await insert_queued(connection, more)
        async with db.session() as session:
            kept = set((await session.execute(select(Message.correlation_id))).scalars())
        assert kept == {row["correlation_id"] for row in rows + more}
    finally:
        await db.close()
