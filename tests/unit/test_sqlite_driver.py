"""SQLite's driver (wagate/sqlite_driver.py): one trip to the connection's thread per
statement, the same results as SQLAlchemy's own aiosqlite adapter, no trip for a commit or
rollback with nothing open, and statements committed with their commit in one trip
(`execute_committed`), waiting for another writer by its own tries."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from wagate import sqlite_driver
from wagate.db import Database
from wagate.sqlite_driver import OneTripConnection, execute_committed

METADATA = MetaData()
ITEMS = Table(
    "items",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("name", String, nullable=False, unique=True),
)


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The name of every function run on a connection's thread, in order."""
    made: list[str] = []
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        made.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    yield made


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    async with database.engine.begin() as connection:
        await connection.run_sync(METADATA.create_all)
    yield database.engine
    await database.engine.dispose()


async def test_the_engine_uses_it(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        assert isinstance(raw.dbapi_connection, OneTripConnection)


async def test_a_statement_is_one_trip(engine: AsyncEngine, trips: list[str]) -> None:
    async with engine.begin() as connection:
        trips.clear()
        result = await connection.execute(insert(ITEMS).values(name="a"))
        assert result.inserted_primary_key == (1,)
        assert trips == ["_run"]
        await connection.execute(insert(ITEMS), [{"name": "b"}, {"name": "c"}])
        assert trips == ["_run", "_run"]
        rows = (await connection.execute(select(ITEMS.c.name).order_by(ITEMS.c.id))).all()
        assert [row.name for row in rows] == ["a", "b", "c"]
        assert trips == ["_run"] * 3
        updated = await connection.execute(text("UPDATE items SET name = name || '!'"))
        assert updated.rowcount == 3
        returned = await connection.execute(
            text("UPDATE items SET name = 'z' WHERE id = 2 RETURNING id, name")
        )
        assert returned.all() == [(2, "z")]
        assert trips == ["_run"] * 5
    assert trips[5:] == ["commit"]


async def test_no_trip_for_a_commit_or_rollback_with_nothing_open(
    engine: AsyncEngine, trips: list[str]
) -> None:
    async with engine.connect() as connection:
        await connection.execute(select(ITEMS.c.id))  # a read opens no transaction
        await connection.commit()
    # ...nor does the pool's rollback of the connection given back.
    assert trips == ["_run"]
    trips.clear()
    async with engine.connect() as connection:
        await connection.execute(insert(ITEMS).values(name="kept"))
        await connection.rollback()
    assert trips == ["_run", "rollback"]
    async with engine.connect() as connection:
        assert (await connection.execute(select(ITEMS.c.name))).all() == []


async def test_a_failed_statement_leaves_its_transaction_to_roll_back(
    engine: AsyncEngine, trips: list[str]
) -> None:
    async with engine.begin() as connection:
        await connection.execute(insert(ITEMS).values(name="first"))
    trips.clear()
    with pytest.raises(IntegrityError):
        async with engine.begin() as connection:
            await connection.execute(insert(ITEMS).values(name="second"))
            await connection.execute(insert(ITEMS).values(name="first"))
    assert trips == ["_run", "_run", "rollback"]
    async with engine.connect() as connection:
        names = (await connection.execute(select(ITEMS.c.name))).scalars().all()
    assert names == ["first"]


async def test_streamed_results_keep_their_own_cursor(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(insert(ITEMS), [{"name": f"n{i}"} for i in range(5)])
    async with engine.connect() as connection:
        result = await connection.stream(select(ITEMS.c.name).order_by(ITEMS.c.id))
        assert [row.name async for row in result] == [f"n{i}" for i in range(5)]


async def test_results_fetched_in_parts(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(insert(ITEMS), [{"name": f"p{i}"} for i in range(5)])
        result = await connection.execute(select(ITEMS.c.name).order_by(ITEMS.c.id))
        assert result.fetchone() == ("p0",)
        assert [row.name for row in result.fetchmany(2)] == ["p1", "p2"]
        assert [row.name for row in result.fetchmany()] == ["p3"]
        assert [row.name for row in result] == ["p4"]


_INSERT = "INSERT INTO items (name) VALUES (?), (?) RETURNING id, name"


async def test_statements_and_their_commit_are_one_trip(
    engine: AsyncEngine, trips: list[str]
) -> None:
    async with engine.connect() as connection:
        trips.clear()
        rows = await execute_committed(connection, [(_INSERT, ("a", "b")), (_INSERT, ("c", "d"))])
        assert trips == ["_run_committed"]
    assert sorted(name for _, name in rows) == ["a", "b", "c", "d"]
    async with engine.connect() as connection:
        stored = await connection.execute(select(ITEMS.c.name))
        assert sorted(stored.scalars()) == ["a", "b", "c", "d"]
        trips.clear()
    assert trips == []  # nothing was left open for the pool to roll back


async def test_a_failed_statement_rolls_back_all_and_raises_as_sqlalchemy_does(
    engine: AsyncEngine,
) -> None:
    async with engine.connect() as connection:
        with pytest.raises(IntegrityError):
            await execute_committed(connection, [(_INSERT, ("x", "y")), (_INSERT, ("z", "x"))])
        assert (await connection.execute(select(ITEMS.c.name))).all() == []


async def test_waits_for_another_writer_then_writes(engine: AsyncEngine, tmp_path: Path) -> None:
    """Another connection holds the file's write lock for a while: the statements wait for
    it, then write, and the connection keeps its busy timeout for everything else."""
    other = sqlite3.connect(tmp_path / "driver.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.2, other.execute, ("COMMIT",))
    release.start()
    try:
        async with engine.connect() as connection:
            rows = await execute_committed(connection, [(_INSERT, ("late", "later"))])
            timeout = await connection.exec_driver_sql("PRAGMA busy_timeout")
            assert timeout.scalar_one() == int(sqlite_driver.BUSY_TIMEOUT_S * 1000)
        assert sorted(name for _, name in rows) == ["late", "later"]
    finally:
        release.join()
        other.close()


async def test_gives_up_as_locked_after_the_busy_timeout(
    engine: AsyncEngine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_driver, "BUSY_TIMEOUT_S", 0.1)
    other = sqlite3.connect(tmp_path / "driver.db", isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")
    try:
        async with engine.connect() as connection:
            with pytest.raises(OperationalError, match="locked"):
                await execute_committed(connection, [(_INSERT, ("never", "ever"))])
    finally:
        other.execute("ROLLBACK")
        other.close()
    async with engine.connect() as connection:
        await execute_committed(connection, [(_INSERT, ("after", "wards"))])
        stored = await connection.execute(select(ITEMS.c.name))
        assert sorted(stored.scalars()) == ["after", "wards"]
