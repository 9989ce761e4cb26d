"""SQLite through aiosqlite with one trip to the connection's thread per statement.

aiosqlite runs each connection in a thread of its own, and every call into it is a round
trip: the event loop queues a function, the thread runs it and hands the result back through
the loop (`call_soon_threadsafe`), which runs it at its next turn. SQLAlchemy's adapter makes
four such trips for a statement that returns rows (make a cursor, execute, fetch all, close
the cursor) and three for one that does not. Under load the loop's turn is long, so a write of
a few statements waited many turns: the senders' group commit of claims and outcomes, a
handful of statements, was in flight most of the time.

Here a statement is one function run on the connection's thread: it makes the cursor,
executes, fetches what the statement returns and closes the cursor; the adapted cursor keeps
the rows, the description, the row count and the last row id. Commits, rollbacks and
streamed (server-side) results keep SQLAlchemy's own path.

`DBAPI` is handed to `create_async_engine(module=...)`: the aiosqlite dialect otherwise as it
is (`sqlalchemy.dialects.sqlite.aiosqlite`).
"""

from __future__ import annotations

import sqlite3
import time
from collections import deque
from collections.abc import Sequence
from typing import Any, NamedTuple, cast

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_


class Outcome(NamedTuple):
    """What the cursor of one statement left, read on the connection's thread."""

    description: Any
    rows: list[Any] | None
    rowcount: int
    lastrowid: int | None
    in_transaction: bool


def _run(connection: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> Outcome:
    """On the connection's thread: the statement, start to end."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else None
        return Outcome(
            description, rows, cursor.rowcount, cursor.lastrowid, connection.in_transaction
        )
    finally:
        cursor.close()


# How long a writer waits for the file's write lock before it fails ("database is locked").
BUSY_TIMEOUT_S = 30.0
# Every connection's setting of it (`wagate.db`'s pragmas), set back after `_begin_immediate`.
BUSY_TIMEOUT_PRAGMA = f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}"
# How often `execute_committed` tries again for the write lock while another connection holds
# it (see `_begin_immediate`).
RETRY_WRITE_LOCK_S = 0.0002


def _begin_immediate(connection: sqlite3.Connection) -> None:
    """Take the file's write lock, trying again every `RETRY_WRITE_LOCK_S`.

    SQLite's busy handler sleeps 1, 2, 5, 10, 15, 20, 25 ms ... between tries, whenever the
    holder lets go: a write that met another's transaction waited 18, 33 or 53 ms where the
    lock was free after a few. The accept path's group commit is in flight alone and every
    caller of the batch waits for it, so its wait is the API's latency; it asks more often."""
    connection.execute("PRAGMA busy_timeout=0")
    try:
        deadline = time.monotonic() + BUSY_TIMEOUT_S
        while True:
            try:
                connection.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                busy = error.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY  # or an extended BUSY
                if not busy or time.monotonic() > deadline:
                    raise
            time.sleep(RETRY_WRITE_LOCK_S)
    finally:
        connection.execute(BUSY_TIMEOUT_PRAGMA)


def _run_committed(
    connection: sqlite3.Connection, statements: Sequence[tuple[str, Sequence[Any]]]
) -> list[Any]:
    """On the connection's thread: the statements and their commit, or their rollback."""
    found: list[Any] = []
    try:
        if not connection.in_transaction:
            _begin_immediate(connection)
        for operation, parameters in statements:
            cursor = connection.execute(operation, parameters)
            try:
                found.extend(cursor.fetchall())
            finally:
                cursor.close()
        connection.commit()
    except BaseException:
        connection.rollback()
        raise
    return found


async def execute_committed(
    connection: AsyncConnection, statements: Sequence[tuple[str, Sequence[Any]]]
) -> list[Any]:
    """Statements in SQLite's own form (text, positional parameters already bound) committed
    as one transaction in one trip to the connection's thread; the rows they return.

    SQLAlchemy's way is a trip for the statement and another for the commit, each waiting
    for a turn of a busy event loop, and its per-row parameter handling in the loop's thread:
    most of the accept path's CPU on SQLite. `connection` is one fresh from the pool (no
    transaction of SQLAlchemy's begun on it). A failure is raised as SQLAlchemy raises it
    (`OperationalError` for a locked or unreadable file), the transaction rolled back."""
    raw = await connection.get_raw_connection()
    adapted = cast(OneTripConnection, raw.dbapi_connection)
    thread: Any = adapted._connection
    adapted._idle = False  # after a failure the pool's rollback runs, as after any
    try:
        rows: list[Any] = await thread._execute(_run_committed, thread._conn, statements)
    except sqlite3.Error as error:
        operation, parameters = statements[0] if statements else ("", ())
        raise DBAPIError.instance(operation, parameters, error, sqlite3.Error) from error
    adapted._idle = True  # committed
    return rows


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """SQLAlchemy's adapted cursor, each statement one trip to the thread (see the module)."""

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: Any) -> None:
        # No aiosqlite cursor is made here (that was a trip of its own): `_run` makes one.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._arraysize = 1

    def _trip(self, operation: Any, parameters: Any, many: bool) -> None:
        # aiosqlite's own queue of calls to its thread (`_execute`: a function, its future).
        connection: Any = self._connection
        adapted = cast(OneTripConnection, self._adapt_connection)
        adapted._idle = False  # until the statement says otherwise
        try:
            outcome: Outcome = await_(
                connection._execute(_run, connection._conn, operation, parameters, many)
            )
        except Exception as error:
            self._adapt_connection._handle_exception(error)
        self._description = outcome.description
        self._rowcount = outcome.rowcount
        self._lastrowid = outcome.lastrowid
        adapted._idle = not outcome.in_transaction
        self._rows = deque(outcome.rows) if outcome.rows else deque()

    def execute(self, operation: Any, parameters: Any = None) -> None:
        self._trip(operation, parameters, many=False)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> None:
        self._trip(operation, seq_of_parameters, many=True)

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    async def _async_soft_close(self) -> None:
        """Nothing to close: the statement's cursor was closed on the thread."""

    def close(self) -> None:
        self._rows.clear()


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    """Also skips the trip of a commit or rollback with no transaction open: the pool rolls
    back every connection given back to it, most of them right after their commit."""

    __slots__ = ("_idle",)
    _cursor_cls = OneTripCursor

    def __init__(self, dbapi: Any, connection: Any) -> None:
        super().__init__(dbapi, connection)
        # True only while the last statement run here left no transaction open: anything
        # else (a streamed result's cursor, a failed statement) leaves it False.
        self._idle = False

    def cursor(self, server_side: bool = False) -> Any:
        if server_side:
            self._idle = False
        return super().cursor(server_side)

    def commit(self) -> None:
        if not self._idle:
            super().commit()
            self._idle = True

    def rollback(self) -> None:
        if not self._idle:
            super().rollback()
            self._idle = True


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        adapted = super().connect(*arg, **kw)
        return OneTripConnection(self, adapted._connection)


DBAPI = OneTripDBAPI(aiosqlite, sqlite3)
