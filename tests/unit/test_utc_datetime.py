"""Timestamps on SQLite: the gateway's own text conversion gives and reads exactly what
SQLAlchemy's DATETIME does, so rows written before and after compare and sort alike."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import DateTime
from sqlalchemy.dialects.sqlite import dialect as sqlite_dialect
from sqlalchemy.ext.asyncio import create_async_engine

from wagate.db import UtcDateTime

SQLITE = sqlite_dialect()
SAMPLES = [
    datetime(2026, 12, 6, 19, 46, 57, 123456, tzinfo=UTC),
    datetime(2026, 12, 6, 19, 46, 57, tzinfo=UTC),  # no microseconds: still six digits
    datetime(2026, 12, 6, 23, 30, 0, 5, tzinfo=timezone(timedelta(hours=-3))),  # next day
    datetime(2026, 1, 1, 0, 0, 0, 999999),  # naive: taken as UTC
    datetime(999, 3, 4, 5, 6, 7, 8, tzinfo=UTC),  # a year of three digits
    datetime.max.replace(tzinfo=UTC),
]


def sqlalchemy_bind(value: datetime | None) -> str | None:
    """What SQLAlchemy's own processing gives: the decorator's method, then DATETIME's."""
    aware = UtcDateTime().process_bind_param(value, SQLITE)
    process = DateTime(timezone=True).dialect_impl(SQLITE).bind_processor(SQLITE)
    assert process is not None
    result: str | None = process(aware)
    return result


def sqlalchemy_result(text: str | None) -> datetime | None:
    process = DateTime(timezone=True).dialect_impl(SQLITE).result_processor(SQLITE, None)
    assert process is not None
    return UtcDateTime().process_result_value(process(text), SQLITE)


def ours() -> tuple[object, object]:
    kind = UtcDateTime().dialect_impl(SQLITE)
    return kind.bind_processor(SQLITE), kind.result_processor(SQLITE, None)


@pytest.mark.parametrize("value", [*SAMPLES, None])
def test_written_as_sqlalchemy_writes_it(value: datetime | None) -> None:
    bind, _ = ours()
    assert callable(bind)
    assert bind(value) == sqlalchemy_bind(value)


@pytest.mark.parametrize("value", SAMPLES)
def test_read_back_as_sqlalchemy_reads_it(value: datetime) -> None:
    bind, result = ours()
    assert callable(bind) and callable(result)
    text = bind(value)
    back = result(text)
    assert back == sqlalchemy_result(text)
    assert back is not None and back.tzinfo is UTC
    assert back == (value if value.tzinfo else value.replace(tzinfo=UTC))


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-06 19:46:57",  # SQLite's CURRENT_TIMESTAMP
        "2026-12-06 19:46:57.5",
        "2026-12-06T19:46:57.123456",
        "2026-12-06 19:46:57.123456+00:00",
        None,
    ],
)
def test_other_texts_read_as_before(text: str | None) -> None:
    _, result = ours()
    assert callable(result)
    assert result(text) == sqlalchemy_result(text)


def test_sorts_in_sqlite_as_time_does() -> None:
    bind, _ = ours()
    assert callable(bind)
    values = sorted(SAMPLES[:5], key=lambda v: v if v.tzinfo else v.replace(tzinfo=UTC))
    with sqlite3.connect(":memory:") as connection:
        connection.execute("CREATE TABLE t (at TEXT)")
        connection.executemany("INSERT INTO t VALUES (?)", [(bind(v),) for v in reversed(values)])
        stored = [row[0] for row in connection.execute("SELECT at FROM t ORDER BY at")]
    assert stored == [bind(v) for v in values]


def test_postgresql_keeps_sqlalchemys_processing() -> None:
    dialect = create_async_engine("postgresql+asyncpg://127.0.0.1/none").dialect
    kind = UtcDateTime().dialect_impl(dialect)
    process = kind.bind_processor(dialect)
    assert process is not None
    value = datetime(2026, 12, 6, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    assert process(value) == datetime(2026, 12, 6, 10, 0, tzinfo=UTC)
