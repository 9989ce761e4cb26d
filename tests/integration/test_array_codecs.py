"""PostgreSQL: a connection learns every array type the schema's statements pass (one array
per column in `wagate.repository.bulk`, a set of values in `any_of`) in one type query at
connect, not one query per type the first time each is used."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import select
from sqlalchemy.dialects import postgresql

from tests.integration.test_bulk import CHAT_MESSAGES, _instance, _message
from wagate.db import Base, Database, any_of, array_types
from wagate.models import Instance, Message
from wagate.repository.bulk import insert_many, update_many

pytestmark = pytest.mark.postgres


@pytest.fixture
def type_queries(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[list[int]]]:
    """The type oids of every introspection query asyncpg sends, in order."""
    sent: list[list[int]] = []
    introspect = asyncpg.Connection._introspect_types

    async def counted(self: Any, typeoids: Any, timeout: Any) -> Any:
        sent.append(sorted(typeoids))
        return await introspect(self, typeoids, timeout)

    monkeypatch.setattr(asyncpg.Connection, "_introspect_types", counted)
    yield sent


def test_every_column_type_has_its_array() -> None:
    names = array_types(Base.metadata, postgresql.dialect())
    for wanted in ("BIGINT[]", "INTEGER[]", "VARCHAR[]", "BOOLEAN[]", "TEXT[]", "JSON[]"):
        assert wanted in names
    assert "TIMESTAMP WITH TIME ZONE[]" in names


async def test_one_type_query_per_connection(
    postgres_url: str, type_queries: list[list[int]]
) -> None:
    db = Database(postgres_url)
    try:
        instance_id = await _instance(db)
        rows = [_message(instance_id, f"m{i}", extra={"n": i}) for i in range(3)]
        async with db.transaction() as session:
            # Each of these first uses an array type the ones before did not.
            await session.execute(select(Message.id).where(any_of(Message.id, [1, 2])))
            await session.execute(select(Instance.id).where(any_of(Instance.name, ["bulk"])))
            await insert_many(session, CHAT_MESSAGES, rows)
            await update_many(
                session,
                CHAT_MESSAGES,
                ["instance_id", "message_id"],
                [{"instance_id": instance_id, "message_id": "m1", "status": "read"}],
            )
        assert len(type_queries) == 1  # the connection's own, at connect
        assert len(type_queries[0]) >= 5  # every array type at once
    finally:
        await db.close()
