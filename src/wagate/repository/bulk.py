"""Many rows written by one statement: on PostgreSQL each column's values travel as one array
and the statement reads them back as rows (`unnest`); elsewhere (SQLite) the same statement is
an executemany.

Why: an executemany on PostgreSQL is still one execution per row (asyncpg pipelines them, but
the server plans, locks and returns for each), and a message's life is about a dozen row
writes across several tables. Set-based, the server does that work once per statement; its
CPU per row falls several times, and the statement text is the same for any number of rows
(one prepared statement).

Callers own the transaction, as in the repositories."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import JSON, Table, Text, bindparam, cast, column, func, insert, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.sql import FromClause
from sqlalchemy.types import TypeDecorator

from wagate.db import Executor, dialect_of

Rows = Sequence[Mapping[str, Any]]
# An INSERT with its ON CONFLICT clause (PostgreSQL's and SQLite's share the methods).
Conflict = Callable[[Any], Any]
# A condition of an update beyond its keys, given each item's value of a column by name. A
# module-level function, so that the statement built with it is built once.
Condition = Callable[[Callable[[str], Any]], Any]


def _is_json(table: Table, name: str) -> bool:
    kind = table.c[name].type
    return isinstance(kind, JSON) or (
        isinstance(kind, TypeDecorator) and isinstance(kind.impl, JSON)
    )


def _array_name(name: str) -> str:
    return f"{name}__rows"


def _rows_of(table: Table, names: tuple[str, ...]) -> FromClause:
    """`unnest(:a, :b, ...) AS rows(a, b, ...)`: the arrays given at execution, as rows typed
    like the table's columns (each array's values go through its column's bind processing:
    JSON is serialised, timestamps made UTC)."""
    arrays = [_array(table, name) for name in names]
    columns = [column(name, table.c[name].type) for name in names]
    return func.unnest(*arrays).table_valued(*columns).render_derived(name="rows")


def _array(table: Table, name: str) -> Any:
    if _is_json(table, name):
        # An array's values are processed item by item, and a JSON list would be taken for a
        # nested array: JSON travels as text (serialised by `_arrays`) and is cast back.
        return cast(bindparam(_array_name(name), type_=ARRAY(Text)), ARRAY(JSON))
    return bindparam(_array_name(name), type_=ARRAY(table.c[name].type))


def _arrays(
    table: Table, names: Sequence[str], rows: Rows, dialect: Dialect
) -> dict[str, list[Any]]:
    arrays: dict[str, list[Any]] = {}
    for name in names:
        values = [row[name] for row in rows]
        if _is_json(table, name):
            serialise = table.c[name].type.bind_processor(dialect)
            values = [serialise(value) for value in values] if serialise else values
        arrays[_array_name(name)] = values
    return arrays


@lru_cache(maxsize=64)
def _insert_from_rows(table: Table, names: tuple[str, ...]) -> Any:
    source = _rows_of(table, names)
    return pg_insert(table).from_select(list(names), select(*(source.c[n] for n in names)))


# SQLite's bound on a statement's parameters before 3.32 (SQLITE_MAX_VARIABLE_NUMBER); a
# larger insert is split into statements of at most this many values.
SQLITE_MAX_PARAMETERS = 32766
_SQLITE_QUOTE = sqlite_dialect().identifier_preparer.quote


@lru_cache(maxsize=256)
def _values_text(
    table: Table, names: tuple[str, ...], count: int, returning: tuple[str, ...]
) -> str:
    row = "(" + ", ".join("?" * len(names)) + ")"
    # Identifiers from the schema, quoted; every value a parameter.
    text = (
        f"INSERT INTO {_SQLITE_QUOTE(table.name)} ({', '.join(map(_SQLITE_QUOTE, names))}) "  # noqa: S608
        f"VALUES {', '.join([row] * count)}"
    )
    if returning:
        text += f" RETURNING {', '.join(map(_SQLITE_QUOTE, returning))}"
    return text


@lru_cache(maxsize=64)
def _bind_processors(
    table: Table, names: tuple[str, ...], returning: tuple[str, ...], dialect: Dialect
) -> tuple[Any, ...] | None:
    """What SQLAlchemy does to each column's value before SQLite gets it (JSON serialised,
    timestamps as text, enums as their values); None where it passes the value as is.

    None when the statement must stay SQLAlchemy's: a column not named whose value Python
    makes (a `default=`), or a returned column whose value SQLAlchemy converts when it reads
    it (a timestamp, JSON): the rows of SQLite's own statement come back as SQLite gives them."""
    for table_column in table.columns:
        if table_column.name not in names and table_column.default is not None:
            return None
    for name in returning:
        if table.c[name].type.dialect_impl(dialect).result_processor(dialect, None) is not None:
            return None
    return tuple(table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names)


def sqlite_values(
    table: Table, rows: Rows, returning: Sequence[str], dialect: Dialect
) -> list[tuple[str, tuple[Any, ...]]]:
    """`rows` (every row with the same keys) as SQLite's own `INSERT ... VALUES (...), (...)`
    statements, their parameters bound as SQLAlchemy binds them: one statement text per
    number of rows, no per-row work but the values'. Raises `LookupError` where SQLAlchemy's
    statement must be used (`_bind_processors`)."""
    names, returned = tuple(rows[0]), tuple(returning)
    processors = _bind_processors(table, names, returned, dialect)
    if processors is None:
        raise LookupError(f"{table.name}: SQLAlchemy fills or converts a column")
    per_statement = max(1, SQLITE_MAX_PARAMETERS // len(names))
    statements = []
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        parameters = tuple(
            process(row[name]) if process is not None else row[name]
            for row in chunk
            for name, process in zip(names, processors, strict=True)
        )
        statements.append((_values_text(table, names, len(chunk), returned), parameters))
    return statements


async def insert_many(
    executor: Executor,
    table: Table,
    rows: Rows,
    *,
    conflict: Conflict | None = None,
    returning: Sequence[str] = (),
) -> list[tuple[Any, ...]]:
    """Insert `rows` (every row with the same keys) in one statement; `conflict` adds the ON
    CONFLICT clause; the `returning` columns of the rows written come back (in no set order)."""
    if not rows:
        return []
    names = tuple(rows[0])
    dialect = dialect_of(executor)
    if dialect.name != "postgresql":
        # SQLAlchemy renders and binds an INSERT ... RETURNING of many rows row by row
        # (insertmanyvalues), and an executemany's rows one dict at a time; SQLite's own
        # statement costs a fraction of either. An ON CONFLICT with RETURNING stays its way.
        if conflict is None:
            try:
                statements = sqlite_values(table, rows, returning, dialect)
            except LookupError:
                pass
            else:
                return await _returned(executor, statements)
        elif not returning and (planned := sqlite_insert_rows(table, rows, conflict, dialect)):
            connection = await _connection(executor)
            await connection.exec_driver_sql(*planned)
            return []
    if dialect.name == "postgresql":
        statement = _insert_from_rows(table, names)
        params: Any = _arrays(table, names, rows, dialect)
    else:
        statement = sqlite_insert(table) if conflict is not None else insert(table)
        params = list(rows)
    if conflict is not None:
        statement = conflict(statement)
    if returning:
        statement = statement.returning(*(table.c[name] for name in returning))
        result = await executor.execute(statement, params)
        return [tuple(found) for found in result.all()]
    await executor.execute(statement, params)
    return []


async def _connection(executor: Executor) -> AsyncConnection:
    """The connection a statement of SQLite's own form runs on (a session's, in its
    transaction)."""
    return await executor.connection() if isinstance(executor, AsyncSession) else executor


async def _returned(
    executor: Executor, statements: Sequence[tuple[str, tuple[Any, ...]]]
) -> list[tuple[Any, ...]]:
    connection = await _connection(executor)
    found: list[tuple[Any, ...]] = []
    for text, values in statements:
        result = await connection.exec_driver_sql(text, values)
        if result.returns_rows:
            found.extend(tuple(row) for row in result.all())
    return found


@lru_cache(maxsize=64)
def _update(
    table: Table,
    keys: tuple[str, ...],
    names: tuple[str, ...],
    constants: tuple[str, ...],
    where: Condition | None,
    from_arrays: bool,
) -> Any:
    """From arrays: `UPDATE ... FROM unnest(...) AS rows WHERE <keys match>`; otherwise the
    statement of one row, for an executemany."""
    if from_arrays:
        source = _rows_of(table, keys + names)

        def value(name: str) -> Any:
            return source.c[name]

    else:

        def value(name: str) -> Any:
            return bindparam(f"{name}__key" if name in keys else f"{name}__value")

    extra = [where(value)] if where else []
    return (
        update(table)
        .where(*(table.c[key] == value(key) for key in keys), *extra)
        .values(
            {name: value(name) for name in names}
            | {name: bindparam(f"{name}__const", type_=table.c[name].type) for name in constants}
        )
    )


async def update_many(
    executor: Executor,
    table: Table,
    keys: Sequence[str],
    rows: Rows,
    constants: Mapping[str, Any] | None = None,
    where: Condition | None = None,
) -> None:
    """Update the rows matching each of `rows` on its `keys` columns (every row with the same
    keys) and `where`: its other items are the rows' new values, `constants` are set on every
    row. No two items may name one table row: which one's values it gets is not defined."""
    if not rows:
        return
    keys = tuple(keys)
    names = tuple(name for name in rows[0] if name not in keys)
    fixed = dict(constants or {})
    shape = (table, keys, names, tuple(fixed), where)
    const_params = {f"{name}__const": value for name, value in fixed.items()}
    dialect = dialect_of(executor)
    if dialect.name == "postgresql":
        arrays = _arrays(table, keys + names, rows, dialect)
        await executor.execute(_update(*shape, from_arrays=True), arrays | const_params)
        return
    planned = sqlite_update(table, keys, rows, fixed, where, dialect)
    if planned is None:
        await executor.execute(
            _update(*shape, from_arrays=False),
            [
                {f"{key}__key": row[key] for key in keys}
                | {f"{name}__value": row[name] for name in names}
                | const_params
                for row in rows
            ],
        )
        return
    connection = await _connection(executor)
    await connection.exec_driver_sql(*planned)


def sqlite_update(
    table: Table,
    keys: Sequence[str],
    rows: Rows,
    constants: Mapping[str, Any],
    where: Condition | None,
    dialect: Dialect,
) -> tuple[str, list[tuple[Any, ...]]] | None:
    """`update_many`'s statement as SQLite's own text and a tuple of parameters per row, bound
    as SQLAlchemy binds them; None where SQLAlchemy's statement must be used."""
    keys = tuple(keys)
    names = tuple(name for name in rows[0] if name not in keys)
    planned = _sqlite_update(table, keys, names, tuple(constants), where, dialect)
    return None if planned is None else _executemany(planned, rows, constants)


def sqlite_insert_rows(
    table: Table, rows: Rows, conflict: Conflict, dialect: Dialect
) -> tuple[str, list[tuple[Any, ...]]] | None:
    """An insert of `rows` with its ON CONFLICT clause as SQLite's own text and a tuple of
    parameters per row (an executemany); None where SQLAlchemy's statement must be used."""
    planned = _sqlite_conflict_insert(table, tuple(rows[0]), conflict, dialect)
    return None if planned is None else _executemany(planned, rows, {})


class _Slot(NamedTuple):
    """One positional parameter of a statement's SQLite text, in order: an item's value of
    column `name`, a constant's (`constant`), or (`name` None) `value`, a value of the
    statement's own (already processed)."""

    name: str | None
    process: Callable[[Any], Any] | None
    constant: bool = False
    value: Any = None


# A statement's SQLite text and its parameters' slots.
_Planned = tuple[str, tuple[_Slot, ...]]


def _processed(process: Callable[[Any], Any] | None, value: Any) -> Any:
    return process(value) if process is not None else value


def _executemany(
    planned: _Planned, rows: Rows, constants: Mapping[str, Any]
) -> tuple[str, list[tuple[Any, ...]]]:
    text, slots = planned
    # Per parameter: the item's column and its processing, or (name None) the value itself.
    each = [
        (None, None, _processed(slot.process, constants[slot.name]))
        if slot.constant and slot.name is not None
        else (slot.name, slot.process, slot.value)
        for slot in slots
    ]
    parameters = [
        tuple(
            value if name is None else row[name] if process is None else process(row[name])
            for name, process, value in each
        )
        for row in rows
    ]
    return text, parameters


def _plan(
    compiled: Any, dialect: Dialect, sources: Mapping[str, tuple[str, bool]]
) -> _Planned | None:
    """Where each positional parameter of `compiled` comes from: `sources` names, by
    parameter, the item's column or the constant (True) that gives it; any other parameter
    is a value the statement holds. Each value goes through its parameter's type's bind
    processing, as SQLAlchemy's would. None for a statement SQLAlchemy renders again at each
    execution (an expanding IN)."""
    if not compiled.positional or compiled.positiontup is None:
        return None
    slots = []
    for parameter in compiled.positiontup:
        bind = compiled.binds[parameter]
        if bind.expanding:
            return None
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        source = sources.get(parameter)
        if source is not None:
            slots.append(_Slot(source[0], process, constant=source[1]))
        else:
            slots.append(_Slot(None, None, value=_processed(process, bind.effective_value)))
    if not set(sources) <= set(compiled.positiontup):
        return None  # a parameter named otherwise than expected: SQLAlchemy's way, safely
    return compiled.string, tuple(slots)


@lru_cache(maxsize=64)
def _sqlite_update(
    table: Table,
    keys: tuple[str, ...],
    names: tuple[str, ...],
    constants: tuple[str, ...],
    where: Condition | None,
    dialect: Dialect,
) -> _Planned | None:
    """The update of one row as SQLite's text, and where each of its parameters comes from:
    an executemany then hands SQLite a tuple per item, where SQLAlchemy made a dict of every
    parameter per item and looked each up again (most of the CPU of an update of many rows)."""
    statement = _update(table, keys, names, constants, where, from_arrays=False)
    sources = (
        {f"{key}__key": (key, False) for key in keys}
        | {f"{name}__value": (name, False) for name in names}
        | {f"{name}__const": (name, True) for name in constants}
    )
    return _plan(statement.compile(dialect=dialect), dialect, sources)


@lru_cache(maxsize=64)
def _sqlite_conflict_insert(
    table: Table, names: tuple[str, ...], conflict: Conflict, dialect: Dialect
) -> _Planned | None:
    """`_sqlite_update`'s counterpart for an insert with an ON CONFLICT clause; None also
    where SQLAlchemy fills a column left out (a Python `default=`), per row."""
    if _bind_processors(table, names, (), dialect) is None:
        return None
    statement = conflict(sqlite_insert(table))
    compiled = statement.compile(dialect=dialect, column_keys=list(names))
    return _plan(compiled, dialect, {name: (name, False) for name in names})
