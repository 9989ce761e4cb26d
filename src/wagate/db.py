"""The database: one async engine and session factory per process, made in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import (
    ARRAY,
    BigInteger,
    DateTime,
    Integer,
    MetaData,
    String,
    bindparam,
    event,
    text,
)
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import NullType, TypeDecorator

from wagate import sqlite_driver
from wagate.files import private_sqlite

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# What the repositories' Core statements run on: a session, or a bare connection
# (`Database.autocommit`).
Executor = AsyncSession | AsyncConnection


def dialect_of(executor: Executor) -> Dialect:
    """The database a session or connection talks to (a statement's form may depend on it)."""
    bind = executor.get_bind() if isinstance(executor, AsyncSession) else executor
    return bind.dialect


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC, on SQLite (naive storage) and PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    # On SQLite a timestamp is text: SQLAlchemy's way there is this class's method, then the
    # dialect's DATETIME formatting a dict of the fields through `%` (and a regular expression
    # back), per value; a message's life writes a dozen of them. `isoformat` and
    # `fromisoformat` give and read the very same text in one C call.

    def bind_processor(self, dialect: Dialect) -> Any:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        return _sqlite_timestamp

    def result_processor(self, dialect: Dialect, coltype: Any) -> Any:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)
        fallback = super().result_processor(dialect, coltype)
        return lambda value: _sqlite_datetime(value, fallback)


def _sqlite_timestamp(value: datetime | None) -> str | None:
    """A timestamp as SQLite keeps it: UTC, naive, `YYYY-MM-DD HH:MM:SS.ffffff` (SQLAlchemy's
    storage format for SQLite's DATETIME)."""
    if value is None:
        return None
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(" ", "microseconds")


def _sqlite_datetime(value: Any, fallback: Any) -> datetime | None:
    """Back from SQLite's text; anything `fromisoformat` does not read goes SQLAlchemy's way."""
    if isinstance(value, str):
        try:
            found = datetime.fromisoformat(value)
        except ValueError:
            pass
        else:
            if found.tzinfo is None:
                return found.replace(tzinfo=UTC)
            return found.astimezone(UTC)
    result: datetime | None = fallback(value) if fallback is not None else value
    return result


async def ping(executor: Executor) -> None:
    """One round trip to the database: the readiness probe's check."""
    await executor.execute(text("SELECT 1"))


def utcnow() -> datetime:
    return datetime.now(UTC)


def _sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or not parsed.database:
        return None
    if parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def _json_text(value: Any) -> str:
    # Integer keys become strings, as with json.dumps.
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


# JSON columns (message bodies, instance settings and webhooks) through orjson: the standard
# json module's decoding was a few percent of a busy node's CPU (every claimed message's body).
JSON_CODEC: dict[str, Any] = {"json_serializer": _json_text, "json_deserializer": orjson.loads}

# A checkout waits at most this long for a connection of a full pool, then fails with
# TimeoutError: a connection that is never given back costs errors, never a hang.
POOL_TIMEOUT_S = 30.0


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    # WAL lets readers run beside the single writer; busy_timeout queues writers instead of
    # failing them with "database is locked".
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(sqlite_driver.BUSY_TIMEOUT_PRAGMA)
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def array_types(metadata: MetaData, dialect: Dialect) -> list[str]:
    """PostgreSQL's name of each column type of the schema, as an array type (`bigint[]`):
    the statements that write many rows (`wagate.repository.bulk`) and match a set of values
    (`any_of`) pass one array per column. Text is there for JSON, which travels as text."""
    names = {"TEXT"}
    for table in metadata.tables.values():
        for table_column in table.columns:
            compiled = table_column.type.compile(dialect=dialect)
            names.add(compiled.split("(", 1)[0].strip())
    return [f"{name}[]" for name in sorted(names)]


def _array_codec_warmer(dialect: Dialect) -> Any:
    """A `connect` listener: asyncpg learns an array type's codec by asking the server (its
    type-introspection query, a few milliseconds of PostgreSQL's CPU), once per type and
    connection, the first time a statement uses it: four to five such queries on every
    connection of a busy node. One statement naming them all at connect makes them one."""
    made: dict[int, str] = {}  # by the number of tables: the models are imported by then

    def warm(dbapi_connection: Any, _: Any) -> None:
        count = len(Base.metadata.tables)
        if count not in made:
            made[count] = "SELECT " + ", ".join(
                f"NULL::{name} AS t{i}"
                for i, name in enumerate(array_types(Base.metadata, dialect))
            )
        sql = made[count]
        dbapi_connection.run_async(lambda connection: connection.fetchrow(sql))

    return warm


def create_engine(url: str, *, pool_size: int = 10, max_overflow: int = 10) -> AsyncEngine:
    sqlite_file = _sqlite_file(url)
    if sqlite_file is not None:
        # Created 600 before SQLite opens it: its -wal and -shm files take its mode.
        private_sqlite(sqlite_file)
    # One pool budget for both databases. On SQLite too: SQLAlchemy's default for a file
    # (5 + 10 overflow) closed an overflow connection when it was given back, and each new
    # one is a thread, a file open and the pragmas: under the drain, many threads that lived
    # for one checkout.
    # No pre-ping: it cost a round trip on every checkout (a sixth of the node's CPU under
    # load). A connection that broke (PostgreSQL restarted) fails the one statement that
    # meets it; SQLAlchemy then invalidates the whole pool, so every later checkout gets a
    # fresh connection. Callers already answer 503 / retry on such an error.
    sqlite_args: dict[str, Any] = {}
    if make_url(url).drivername == "sqlite+aiosqlite":
        # Each statement one trip to the connection's thread (wagate/sqlite_driver.py).
        sqlite_args["module"] = sqlite_driver.DBAPI
    engine = create_async_engine(
        url,
        connect_args={"timeout": sqlite_driver.BUSY_TIMEOUT_S} if sqlite_file is not None else {},
        **sqlite_args,
        pool_size=pool_size,
        max_overflow=max_overflow,
        pool_timeout=POOL_TIMEOUT_S,
        **JSON_CODEC,
    )
    if sqlite_file is not None:
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    elif engine.dialect.driver == "asyncpg":
        event.listen(engine.sync_engine, "connect", _array_codec_warmer(engine.dialect))
    return engine


# Connection budgets per process (PostgreSQL; 30 in all, as before the split): the request
# path gets its own small pool, so API requests never queue behind hundreds of workers and
# engine clients waiting for a connection, and the background cannot starve the API.
# No overflow: SQLAlchemy closes an overflow connection when it is given back, so a load that
# keeps going past the pool size opened and closed a connection (a TLS attempt, a login and the
# driver's type introspection) for a large part of its checkouts — under the sync-send
# benchmark that was most of the node's CPU. A checkout past the pool waits for a connection.
POOL_SIZE, POOL_OVERFLOW = 20, 0
API_POOL_SIZE, API_POOL_OVERFLOW = 10, 0


class Database:
    """The process's engines and session factories: one for the request path, one for the
    rest (workers, engines, webhooks). SQLite has one engine: a second would only add a
    second writer to the same file."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_engine(url, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self.api_engine = self.engine
        if not self.is_sqlite:
            self.api_engine = create_engine(
                url, pool_size=API_POOL_SIZE, max_overflow=API_POOL_OVERFLOW
            )
        self.api_sessions = async_sessionmaker(self.api_engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessions() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session whose work is committed on exit (rolled back on error)."""
        async with self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def api_session(self) -> AsyncIterator[AsyncSession]:
        """A session from the request path's own pool."""
        async with self.api_sessions() as session:
            yield session

    @asynccontextmanager
    async def api_transaction(self) -> AsyncIterator[AsyncSession]:
        async with self.api_sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncConnection]:
        """A connection of the background pool for writes that need no transaction around
        them: on PostgreSQL each statement commits on its own, one round trip where a
        transaction costs three (BEGIN, the statement, COMMIT: a sixth of a busy node's CPU in
        the drain). An executemany is still atomic (asyncpg runs it in one implicit
        transaction). On SQLite, a transaction as `transaction()` gives."""
        if self.is_sqlite:
            async with self.engine.begin() as connection:
                yield connection
            return
        async with self.engine.connect() as connection:
            yield await connection.execution_options(isolation_level="AUTOCOMMIT")

    @asynccontextmanager
    async def api_autocommit(self) -> AsyncIterator[AsyncConnection]:
        """A connection of the request path's pool whose every statement commits on its own:
        one round trip for a single-statement write, where a transaction costs three (BEGIN,
        the statement, COMMIT)."""
        async with self.api_engine.connect() as connection:
            yield await connection.execution_options(isolation_level="AUTOCOMMIT")

    @asynccontextmanager
    async def api_single_write(self) -> AsyncIterator[AsyncConnection]:
        """A connection of the request path's pool for a write that commits itself: on
        PostgreSQL `api_autocommit()`; on SQLite a connection with nothing begun on it, for
        `sqlite_driver.execute_committed` (SQLAlchemy's autocommit there costs a trip to the
        connection's thread to set it and two to undo it)."""
        if not self.is_sqlite:
            async with self.api_autocommit() as connection:
                yield connection
            return
        async with self.api_engine.connect() as connection:
            yield connection

    async def close(self) -> None:
        await self.engine.dispose()
        if self.api_engine is not self.engine:
            await self.api_engine.dispose()


# --- one statement text for any number of values -------------------------------------------


class _ValueList(TypeDecorator[list[Any]]):
    """A list bound as one parameter: a PostgreSQL array, a JSON array's text on SQLite."""

    impl = String
    cache_ok = True

    def __init__(self, integers: bool) -> None:
        super().__init__()
        self.integers = integers

    def load_dialect_impl(self, dialect: Any) -> Any:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(ARRAY(BigInteger() if self.integers else String()))
        return dialect.type_descriptor(String())

    def process_bind_param(self, value: list[Any] | None, dialect: Any) -> Any:
        if value is None or dialect.name == "postgresql":
            return value
        return orjson.dumps(value).decode()


class AnyOf(ColumnElement[Any]):
    """`column IN (values)` as one statement text whatever the number of values.

    SQLAlchemy renders `IN` with one placeholder per value, so every distinct count is a new
    statement: rendered again, and prepared again by asyncpg (a round trip and its CPU; its
    cache holds 100 per connection). Claims and receipts of a busy node come in every size.
    PostgreSQL gets `column = ANY($1)` with an array, SQLite `column IN (SELECT value FROM
    json_each(?))`."""

    inherit_cache = True
    # Not Boolean: SQLAlchemy would add "= 1" after it on SQLite (no native boolean).
    type = NullType()
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("values", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: Any, values: Iterable[Any] | None, name: str | None) -> None:
        self.column = column
        integers = isinstance(column.type, Integer) or (
            isinstance(column.type, TypeDecorator) and isinstance(column.type.impl, Integer)
        )
        if name is not None:  # a statement built once: the list is given at execution
            self.values = bindparam(name, type_=_ValueList(integers))
        else:
            self.values = bindparam(
                None, list(values or ()), type_=_ValueList(integers), unique=True
            )


@compiles(AnyOf, "postgresql")
def _any_of_postgresql(element: AnyOf, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    return f"{column} = ANY({compiler.process(element.values, **kw)})"


@compiles(AnyOf)
def _any_of_default(element: AnyOf, compiler: Any, **kw: Any) -> str:
    column = compiler.process(element.column, **kw)
    values = compiler.process(element.values, **kw)
    # Both parts are compiled SQL (a column and a placeholder), never values.
    return f"{column} IN (SELECT value FROM json_each({values}))"  # noqa: S608


def any_of(column: Any, values: Iterable[Any] | None = None, *, name: str | None = None) -> AnyOf:
    """`column IN values`, one statement text for any number of values (see AnyOf). With
    `name` instead of values, the list is the execution's parameter of that name."""
    return AnyOf(column, values, name)
