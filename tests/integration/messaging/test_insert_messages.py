"""`insert_messages`, the write of the send routes: many rows in one INSERT on both databases,
each id handed back at its row's place, media attached to its own message."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, select

from tests.support.rows import add_instance
from wagate.db import Database, utcnow
from wagate.message_status import MessageStatus
from wagate.messages.repository import insert_messages
from wagate.models import Message, OutgoingMedia

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
