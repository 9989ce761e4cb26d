"""The database: one async engine and session factory per process, made in the lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


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


def utcnow() -> datetime:
    return datetime.now(UTC)


def _sqlite_file(url: str) -> Path | None:
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or not parsed.database:
        return None
    if parsed.database == ":memory:":
        return None
    return Path(parsed.database)


# A checkout waits at most this long for a connection of a full pool, then fails with
# TimeoutError: a connection that is never given back costs errors, never a hang.
POOL_TIMEOUT_S = 30.0


def create_engine(url: str, *, pool_size: int = 10, max_overflow: int = 10) -> AsyncEngine:
    sqlite_file = _sqlite_file(url)
    if sqlite_file is not None:
        sqlite_file.parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, pool_timeout=POOL_TIMEOUT_S)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_connection: Any, _: Any) -> None:
            # WAL lets readers run beside the single writer; busy_timeout queues writers
            # instead of failing them with "database is locked".
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    # No pre-ping: it cost a round trip on every checkout (a sixth of the node's CPU under
    # load). A connection that broke (PostgreSQL restarted) fails the one statement that
    # meets it; SQLAlchemy then invalidates the whole pool, so every later checkout gets a
    # fresh connection. Callers already answer 503 / retry on such an error.
    return create_async_engine(
        url, pool_size=pool_size, max_overflow=max_overflow, pool_timeout=POOL_TIMEOUT_S
    )


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

    async def close(self) -> None:
        await self.engine.dispose()
        if self.api_engine is not self.engine:
            await self.api_engine.dispose()
