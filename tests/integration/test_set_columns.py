"""`set_columns`: a loaded row's columns, written by its transaction; a row the session does not
hold is refused (nothing would write it)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from wagate.db import Database, utcnow
from wagate.instances import repository
from wagate.models import Instance
from wagate.repository.rows import set_columns


def _instance(name: str) -> Instance:
    now = utcnow()
    return Instance(
        name=name,
        engine="simulator",
        status="created",
        desired_state="stopped",
        token_hash="old",
        settings={},
        created_at=now,
        updated_at=now,
    )


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A database holding one instance, "a", its token hash "old"."""
    db = Database(database_url)
    async with db.transaction() as session:
        await repository.add(session, _instance("a"))
    yield db
    await db.close()


async def _token_hash(db: Database, name: str) -> str | None:
    async with db.session() as session:
        stored = await repository.get_by_name(session, name)
    return None if stored is None else stored.token_hash


async def test_set_columns_is_written_by_the_transaction(db: Database) -> None:
    async with db.transaction() as session:
        row = await repository.get_by_name(session, "a")
        assert row is not None
        await set_columns(session, row, token_hash="new", settings={"reject_calls": True})
    async with db.session() as session:
        stored = await repository.get_by_name(session, "a")
    assert stored is not None
    assert (stored.token_hash, stored.settings) == ("new", {"reject_calls": True})


async def test_set_columns_refuses_a_row_outside_the_session(db: Database) -> None:
    async with db.session() as session:
        loaded = await repository.get_by_name(session, "a")
    assert loaded is not None
    async with db.transaction() as session:
        with pytest.raises(ValueError, match="not in this session"):
            await set_columns(session, loaded, token_hash="lost")
        with pytest.raises(ValueError, match="not in this session"):
            await set_columns(session, _instance("c"), token_hash="lost")
    assert await _token_hash(db, "a") == "old"
    assert await _token_hash(db, "c") is None
