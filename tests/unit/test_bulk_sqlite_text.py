"""The SQLite statements `insert_many` and `update_many` write in SQLite's own form hand it the
very parameters SQLAlchemy's executemany would: captured from a real SQLite engine running
SQLAlchemy's statement, compared with what `repository.bulk` builds for the same rows."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast

from sqlalchemy import Table, and_, create_engine, event, insert, literal_column
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from wagate.message_status import MessageStatus
from wagate.models import ChatMessage, Message, WebhookDelivery
from wagate.repository.bulk import _update, sqlite_insert_rows, sqlite_update, sqlite_values

CHAT_MESSAGES = cast(Table, ChatMessage.__table__)
MESSAGES = cast(Table, Message.__table__)
DELIVERIES = cast(Table, WebhookDelivery.__table__)
AT = datetime(2026, 12, 6, 20, 15, 1, 250, tzinfo=UTC)


class Captured(Exception):
    """Ends the execution once SQLAlchemy has handed SQLite its parameters (no schema needed)."""


def sqlalchemys(statement: Any, rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The parameters SQLAlchemy hands SQLite for `statement` executed with `rows`."""
    engine = create_engine("sqlite://")
    seen: list[Any] = []

    @event.listens_for(engine, "before_cursor_execute")
    def capture(conn: Any, cursor: Any, text: str, parameters: Any, *_: Any) -> None:
        seen.append(parameters)
        raise Captured

    with engine.connect() as connection, contextlib.suppress(Captured):
        connection.execute(statement, rows)
    return [tuple(p) for p in seen[-1]] if len(rows) > 1 else [tuple(seen[-1])]


def update_params(
    keys: tuple[str, ...], rows: list[dict[str, Any]], constants: dict[str, Any]
) -> list[dict[str, Any]]:
    return [
        {f"{key}__key": row[key] for key in keys}
        | {f"{name}__value": row[name] for name in row if name not in keys}
        | {f"{name}__const": value for name, value in constants.items()}
        for row in rows
    ]


def _only_sent(value: Any) -> Any:
    return and_(CHAT_MESSAGES.c.status == "sent", value("text") != "")


def _not_read(_: Any) -> Any:
    return MESSAGES.c.read_at.is_(None)


def compare(
    table: Table,
    keys: tuple[str, ...],
    rows: list[dict[str, Any]],
    constants: dict[str, Any],
    where: Any = None,
) -> None:
    dialect = create_engine("sqlite://").dialect
    names = tuple(name for name in rows[0] if name not in keys)
    statement = _update(table, keys, names, tuple(constants), where, from_arrays=False)
    expected = sqlalchemys(statement, update_params(keys, rows, constants))
    planned = sqlite_update(table, keys, rows, constants, where, dialect)
    assert planned is not None
    text, parameters = planned
    assert parameters == expected
    assert text == str(statement.compile(dialect=dialect))


def test_receipts_update_binds_as_sqlalchemy() -> None:
    rows = [{"id": n, "read_at": AT + timedelta(seconds=n)} for n in range(3)]
    compare(MESSAGES, ("id",), rows, {"updated_at": AT}, _not_read)


def test_sent_outcome_binds_enums_nulls_and_timestamps_as_sqlalchemy() -> None:
    east = timezone(timedelta(hours=5))
    rows: list[dict[str, Any]] = [
        {"id": 1, "message_id": "3EB0A", "sent_at": AT.astimezone(east)},
        {"id": 2, "message_id": None, "sent_at": datetime(2026, 1, 2, 3, 4, 5)},
    ]
    constants = {
        "status": MessageStatus.SENT,
        "error": None,
        "next_attempt_at": None,
        "updated_at": AT,
    }
    compare(MESSAGES, ("id",), rows, constants)


def test_condition_with_its_own_values_and_an_items_value_twice() -> None:
    rows = [
        {"instance_id": 1, "message_id": "m1", "text": "new", "extra": {"poll": ["a"]}},
        {"instance_id": 1, "message_id": "m2", "text": "", "extra": None},
    ]
    compare(CHAT_MESSAGES, ("instance_id", "message_id"), rows, {"edited_at": AT}, _only_sent)


def test_webhook_outcomes_with_two_keys_and_constants() -> None:
    rows = [
        {
            "id": f"dlv_{n:032x}",
            "claim_token": f"t{n}",
            "status": "delivered",
            "attempts": n,
            "last_attempted_at": AT,
            "last_status_code": 200,
        }
        for n in range(2)
    ]
    compare(DELIVERIES, ("id", "claim_token"), rows, {"claim_token": None, "claimed_until": None})


def test_an_expression_sqlalchemy_renders_at_execution_keeps_its_path() -> None:
    def expanding(_: Any) -> Any:
        return MESSAGES.c.status.in_(["queued", "sending"])

    dialect = create_engine("sqlite://").dialect
    rows = [{"id": 1, "error": "x"}]
    assert sqlite_update(MESSAGES, ("id",), rows, {}, expanding, dialect) is None


def test_insert_without_returning_binds_as_sqlalchemy() -> None:
    dialect = create_engine("sqlite://").dialect
    rows = [
        {
            "id": f"dlv_{n:032x}",
            "event_id": f"evt_{n}",
            "instance_id": 1,
            "event": "message_ack",
            "url": "http://127.0.0.1:9/hook",
            "target": "instance",
            "payload": f'{{"event":"message_ack","n":{n}}}',
            "status": "pending",
            "attempts": 0,
            "next_attempt_at": AT,
            "created_at": AT.astimezone(timezone(timedelta(hours=-7))),
        }
        for n in range(3)
    ]
    expected = sqlalchemys(insert(DELIVERIES), rows)
    [(text, flat)] = sqlite_values(DELIVERIES, rows, (), dialect)
    width = len(rows[0])
    assert [flat[i : i + width] for i in range(0, len(flat), width)] == expected
    assert text.startswith("INSERT INTO webhook_deliveries (id, event_id, instance_id, event, ")
    assert "RETURNING" not in text


def test_literal_column_condition_is_kept() -> None:
    def pending(_: Any) -> Any:
        return DELIVERIES.c.status == literal_column("'pending'")

    rows = [{"id": "dlv_1", "attempts": 1}]
    compare(DELIVERIES, ("id",), rows, {}, pending)


def _link_send(statement: Any) -> Any:
    return statement.on_conflict_do_update(
        index_elements=["instance_id", "message_id", "chat"],
        set_={"correlation_id": statement.excluded.correlation_id},
    )


def _chat_message(n: int) -> dict[str, Any]:
    return {
        "instance_id": 1,
        "chat": "15550001111@s.whatsapp.net",
        "message_id": f"m{n}",
        "from_me": True,
        "kind": "text",
        "text": f"text {n}",
        "timestamp": AT,
        "status": "sent",
        "extra": {"poll": ["a", n]} if n else None,
        "correlation_id": f"c{n}",
    }


def test_insert_with_its_conflict_clause_binds_as_sqlalchemy() -> None:
    dialect = create_engine("sqlite://").dialect
    rows = [_chat_message(n) for n in range(3)]
    expected = sqlalchemys(_link_send(sqlite_insert(CHAT_MESSAGES)), rows)
    planned = sqlite_insert_rows(CHAT_MESSAGES, rows, _link_send, dialect)
    assert planned is not None
    text, parameters = planned
    assert parameters == expected
    assert text.endswith(
        "ON CONFLICT (instance_id, message_id, chat)"
        " DO UPDATE SET correlation_id = excluded.correlation_id"
    )


def test_insert_leaving_out_a_column_python_fills_keeps_sqlalchemys_path() -> None:
    dialect = create_engine("sqlite://").dialect
    # status and attempts left to their defaults
    rows: list[dict[str, Any]] = [
        {"id": "d", "event_id": "e", "event": "x", "url": "u", "target": "t", "payload": "{}"}
    ]

    def skip(statement: Any) -> Any:
        return statement.on_conflict_do_nothing()

    assert sqlite_insert_rows(DELIVERIES, rows, skip, dialect) is None
