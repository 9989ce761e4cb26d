"""`insert_many` and `update_many`: one statement for many rows (arrays on PostgreSQL, an
executemany on SQLite), with the same rows written on both databases: JSON lists and nulls,
conflicts, returned keys, keys that match nothing, constants and extra conditions."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import Table, and_, insert, select

from wagate.db import Database, utcnow
from wagate.models import ChatMessage, Instance
from wagate.repository.bulk import insert_many, update_many

CHAT_MESSAGES = cast(Table, ChatMessage.__table__)


def _message(instance_id: int, message_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "instance_id": instance_id,
        "chat": "15550001111@s.whatsapp.net",
        "message_id": message_id,
        "from_me": True,
        "kind": "text",
        "text": f"text of {message_id}",
        "timestamp": utcnow(),
        "status": "sent",
        "extra": None,
        **extra,
    }


def _skip_taken(statement: Any) -> Any:
    return statement.on_conflict_do_nothing()


def _only_sent(value: Any) -> Any:
    return and_(CHAT_MESSAGES.c.status == "sent", value("text") != "")


async def _instance(db: Database) -> int:
    now = utcnow()
    async with db.transaction() as session:
        result = await session.execute(
            insert(Instance).returning(Instance.id),
            [
                {
                    "name": "bulk",
                    "engine": "simulator",
                    "status": "created",
                    "desired_state": "disconnected",
                    "token_hash": "h",
                    "settings": {},
                    "created_at": now,
                    "updated_at": now,
                }
            ],
        )
        return int(result.scalar_one())


async def rows_by_key(db: Database, key: Any, *columns: Any) -> dict[Any, tuple[Any, ...]]:
    """Every row of the table of `key`'s column: its `columns`, by its `key`."""
    async with db.session() as session:
        found = await session.execute(select(key, *columns))
        return {row[0]: tuple(row[1:]) for row in found}


async def _rows(db: Database) -> dict[str, tuple[Any, ...]]:
    c = CHAT_MESSAGES.c
    return await rows_by_key(db, c.message_id, c.status, c.text, c.extra, c.edited_text)


async def test_insert_many_writes_every_row_and_returns_the_new_ones(database_url: str) -> None:
    db = Database(database_url)
    try:
        instance_id = await _instance(db)
        rows = [
            _message(instance_id, "m1", extra={"poll": ["a", "b"]}),
            _message(instance_id, "m2", extra=[1, [2, 3]]),
            _message(instance_id, "m3"),
        ]
        async with db.transaction() as session:
            new = await insert_many(
                session, CHAT_MESSAGES, rows, conflict=_skip_taken, returning=["message_id"]
            )
        assert sorted(new) == [("m1",), ("m2",), ("m3",)]
        again = [_message(instance_id, "m3", text="changed"), _message(instance_id, "m4")]
        async with db.transaction() as session:
            new = await insert_many(
                session, CHAT_MESSAGES, again, conflict=_skip_taken, returning=["message_id"]
            )
            assert await insert_many(session, CHAT_MESSAGES, []) == []
        assert new == [("m4",)]
        found = await _rows(db)
        assert found["m1"][2] == {"poll": ["a", "b"]}
        assert found["m2"][2] == [1, [2, 3]]
        assert found["m3"][1] == "text of m3"  # the conflict kept the first row
        assert set(found) == {"m1", "m2", "m3", "m4"}
    finally:
        await db.close()


async def test_insert_many_without_conflict_returns_values_as_sqlalchemy_reads_them(
    database_url: str,
) -> None:
    """Without ON CONFLICT, SQLite gets its own multi-row statement; what comes back is what
    SQLAlchemy's statement gives on both databases: JSON and timestamps read back as Python
    values (that statement is kept for them), keys as they are."""
    db = Database(database_url)
    try:
        instance_id = await _instance(db)
        rows = [_message(instance_id, f"r{n}", extra={"n": n}) for n in range(3)]
        async with db.transaction() as session:
            keys = await insert_many(session, CHAT_MESSAGES, rows, returning=["message_id", "id"])
            typed = await insert_many(
                session,
                CHAT_MESSAGES,
                [_message(instance_id, "r9", extra={"n": 9})],
                returning=["extra", "timestamp"],
            )
        assert sorted(key for key, _ in keys) == ["r0", "r1", "r2"]
        assert all(isinstance(pk, int) for _, pk in keys)
        assert typed[0][0] == {"n": 9}
        assert typed[0][1].year == utcnow().year
        found = await _rows(db)
        assert [found[f"r{n}"][2] for n in range(3)] == [{"n": 0}, {"n": 1}, {"n": 2}]
    finally:
        await db.close()


async def test_update_many_changes_the_rows_its_keys_and_condition_name(database_url: str) -> None:
    db = Database(database_url)
    try:
        instance_id = await _instance(db)
        rows = [_message(instance_id, f"m{i}") for i in range(1, 5)]
        rows[3]["status"] = "read"
        async with db.transaction() as session:
            await insert_many(session, CHAT_MESSAGES, rows)
        changes = [
            {"instance_id": instance_id, "message_id": "m1", "status": "delivered", "text": "x"},
            {"instance_id": instance_id, "message_id": "m2", "status": "read", "text": "y"},
            {"instance_id": instance_id, "message_id": "nobody", "status": "read", "text": "z"},
            {"instance_id": instance_id, "message_id": "m4", "status": "played", "text": "w"},
        ]
        async with db.transaction() as session:
            await update_many(
                session,
                CHAT_MESSAGES,
                ["instance_id", "message_id"],
                changes,
                {"edited_text": "same for all"},
                where=_only_sent,
            )
            await update_many(session, CHAT_MESSAGES, ["message_id"], [])
        found = await _rows(db)
        assert found["m1"] == ("delivered", "x", None, "same for all")
        assert found["m2"] == ("read", "y", None, "same for all")
        assert found["m3"] == ("sent", "text of m3", None, None)  # not named
        assert found["m4"] == ("read", "text of m4", None, None)  # the condition left it
        assert "nobody" not in found
    finally:
        await db.close()
