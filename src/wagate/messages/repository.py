"""Queries on messages, their media, idempotency keys and received media. Callers commit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import orjson
from sqlalchemy import (
    ColumnElement,
    Row,
    Table,
    bindparam,
    delete,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from wagate import sqlite_driver
from wagate.db import Executor, any_of, utcnow
from wagate.message_status import OPEN, MessageStatus
from wagate.messages.recent import RecentSends
from wagate.messages.schemas import MEDIA_KINDS
from wagate.models import IdempotencyKey, Instance, Message, OutgoingMedia, ReceivedMedia
from wagate.repository.bulk import insert_many, sqlite_values, update_many

# Core statements on the table where no ORM object is needed: the ORM's bulk paths cost
# several times the CPU per row (measured under the drain benchmark).
MESSAGES = cast(Table, Message.__table__)
OUTGOING_MEDIA = cast(Table, OutgoingMedia.__table__)
BLANK_BODY: dict[str, Any] = {}  # what a message's body becomes once past its retention


async def add_messages(
    session: AsyncSession, rows: Sequence[Message], media: Sequence[OutgoingMedia | None]
) -> None:
    session.add_all(rows)
    await session.flush()
    for row, item in zip(rows, media, strict=True):
        if item is not None:
            item.message_pk = row.id
            session.add(item)


async def add_idempotency_key(session: AsyncSession, row: IdempotencyKey) -> None:
    """A taken key fails with IntegrityError when the transaction writes it."""
    session.add(row)


# What the INSERT of new messages returns, for `_in_row_order`.
_RETURNED = ("id", "correlation_id")


def _in_row_order(returned: Sequence[Any], rows: Sequence[dict[str, Any]]) -> list[int]:
    """The ids an INSERT returned as (id, correlation_id), in the order of `rows`: neither
    database promises RETURNING's order for many rows."""
    by_correlation = {correlation_id: int(pk) for pk, correlation_id in returned}
    return [by_correlation[row["correlation_id"]] for row in rows]


async def insert_messages(
    session: AsyncSession, rows: Sequence[dict[str, Any]], media: Sequence[OutgoingMedia | None]
) -> list[int]:
    """Many message rows in one INSERT ... RETURNING (`insert_many`), without the ORM's
    per-object bookkeeping, and their media; the ids come back in the order of `rows`.

    Each id is matched to its row by the correlation id it returns with. Asking SQLAlchemy
    to return them in the order of the rows instead (`sort_by_parameter_order`) made it
    insert one row per statement on SQLite, whose RETURNING has no order: a round trip to
    the connection's thread and half the accept path's CPU for every message."""
    ids = _in_row_order(await insert_many(session, MESSAGES, rows, returning=_RETURNED), rows)
    for pk, item in zip(ids, media, strict=True):
        if item is not None:
            item.message_pk = pk
            session.add(item)
    return ids


# The accept path's write on PostgreSQL: the rows of a whole group commit as arrays, one
# statement, committed on its own (see `insert_queued`).
_INSERT_QUEUED = text(
    """
    INSERT INTO messages (correlation_id, instance_id, kind, "to", to_jid, body, status,
                          attempts, max_attempts, dead_lettered, created_at, updated_at)
    SELECT correlation_id, instance_id, kind, "to", to_jid, body, CAST(:queued AS TEXT),
           0, max_attempts, false, created_at, created_at
    FROM unnest(CAST(:correlation_ids AS TEXT[]), CAST(:instance_ids AS BIGINT[]),
                CAST(:kinds AS TEXT[]), CAST(:tos AS TEXT[]), CAST(:to_jids AS TEXT[]),
                CAST(:bodies AS JSON[]), CAST(:max_attempts AS INTEGER[]),
                CAST(:created_ats AS TIMESTAMPTZ[]))
         AS item(correlation_id, instance_id, kind, "to", to_jid, body, max_attempts,
                 created_at)
    RETURNING id, correlation_id
    """
)


async def insert_queued(connection: AsyncConnection, rows: Sequence[dict[str, Any]]) -> list[int]:
    """New queued messages without media (the `MessageService._values` dicts), committed by
    one statement: on PostgreSQL on an autocommit connection, one round trip for the whole
    batch where `insert_messages` in a transaction costs three, and no per-row statement
    rendering; on SQLite (a connection fresh from the pool) the INSERT and its commit in one
    trip to the connection's thread. The ids come back in the order of `rows`."""
    if connection.dialect.name == "sqlite":
        statements = sqlite_values(MESSAGES, rows, _RETURNED, connection.dialect)
        return _in_row_order(await sqlite_driver.execute_committed(connection, statements), rows)
    result = await connection.execute(
        _INSERT_QUEUED,
        {
            "correlation_ids": [row["correlation_id"] for row in rows],
            "instance_ids": [row["instance_id"] for row in rows],
            "kinds": [row["kind"] for row in rows],
            "tos": [row["to"] for row in rows],
            "to_jids": [row["to_jid"] for row in rows],
            "bodies": [orjson.dumps(row["body"]).decode() for row in rows],
            "max_attempts": [row["max_attempts"] for row in rows],
            "created_ats": [row["created_at"] for row in rows],
            "queued": MessageStatus.QUEUED.value,
        },
    )
    return _in_row_order(result.all(), rows)


async def get_by_correlation(
    session: AsyncSession, instance_id: int, correlation_id: str
) -> Message | None:
    result = await session.execute(
        select(Message).where(
            Message.instance_id == instance_id, Message.correlation_id == correlation_id
        )
    )
    return result.scalar_one_or_none()


async def first_held(
    session: AsyncSession, instance_id: int
) -> Row[int, str | None, datetime | None] | None:
    """The id, rule and time of the instance's first queued message when the send policy
    holds it (None when it is not held, or nothing is queued). An instance's sends keep
    their order: every queued message after it waits behind it, those queued after the hold
    was written (not marked with it) too. One row read from the (instance, status, id) index."""
    found = await session.execute(
        select(Message.id, Message.held_by, Message.held_until)
        .where(Message.instance_id == instance_id, Message.status == MessageStatus.QUEUED)
        .order_by(Message.id)
        .limit(1)
    )
    first = found.first()
    return first if first is not None and first.held_until is not None else None


async def outcome_of(session: AsyncSession, correlation_id: str) -> Message | None:
    result = await session.execute(select(Message).where(Message.correlation_id == correlation_id))
    return result.scalar_one_or_none()


async def list_messages(
    session: AsyncSession, instance_id: int, status: str | None, limit: int, before: int | None
) -> list[Message]:
    query = select(Message).where(Message.instance_id == instance_id)
    if status is not None:
        query = query.where(*shown_as(status))
    if before is not None:
        query = query.where(Message.id < before)
    result = await session.execute(query.order_by(Message.id.desc()).limit(limit))
    return list(result.scalars().all())


@dataclass(slots=True)
class SendRow:
    """A message claimed for sending: the columns the sender reads and the outcome it sets.
    A plain object rather than an ORM instance: loading ORM objects from the claim's
    RETURNING was about a twelfth of a node's CPU in the drain benchmark."""

    id: int
    correlation_id: str
    instance_id: int
    kind: str
    to_jid: str
    body: dict[str, Any]
    status: str
    attempts: int
    max_attempts: int
    message_id: str | None
    error: dict[str, Any] | None
    sent_at: datetime | None
    failed_at: datetime | None


_SEND_COLUMNS = [MESSAGES.c[field] for field in SendRow.__dataclass_fields__]


# Built once: building a statement and its cache key cost as much as running it, per claim.
_CLAIM = (
    update(MESSAGES)
    .where(any_of(MESSAGES.c.id, name="pks"), MESSAGES.c.status.in_(sorted(OPEN)))
    .values(
        status=MessageStatus.SENDING,
        attempts=MESSAGES.c.attempts + 1,
        updated_at=bindparam("now", type_=MESSAGES.c.updated_at.type),
        held_until=None,
        held_by=None,
    )
    .returning(*_SEND_COLUMNS)
)


async def claim_for_send(
    session: Executor, pks: Sequence[int]
) -> list[tuple[SendRow, OutgoingMedia | None]]:
    """Mark the messages of `pks` that are not final yet as being sent (one more attempt) and
    load them with their media, in one UPDATE ... RETURNING: final ones (a duplicate entry, a
    redelivery after a crash) are neither touched nor returned. Order of `pks`."""
    result = await session.execute(_CLAIM, {"pks": list(pks), "now": utcnow()})
    return await _with_media(session, [SendRow(*values) for values in result.all()], pks)


async def _with_media(
    session: Executor, found: Sequence[SendRow], pks: Sequence[int]
) -> list[tuple[SendRow, OutgoingMedia | None]]:
    """The claimed rows in the order of `pks`, each with its media (one query, when any has)."""
    rows = {row.id: row for row in found}
    media: dict[int, OutgoingMedia] = {}
    if any(row.kind in MEDIA_KINDS for row in rows.values()):
        found_media = await session.execute(
            select(
                OutgoingMedia.message_pk,
                OutgoingMedia.mimetype,
                OutgoingMedia.filename,
                OutgoingMedia.data,
            ).where(any_of(OutgoingMedia.message_pk, rows))
        )
        media = {
            item.message_pk: OutgoingMedia(
                message_pk=item.message_pk,
                mimetype=item.mimetype,
                filename=item.filename,
                data=item.data,
            )
            for item in found_media
        }
    return [(rows[pk], media.get(pk)) for pk in pks if pk in rows]


# The sender's one write per message on PostgreSQL (see `record_and_claim`): the outcomes of
# the sends done, by arrays, and the claim of the next, in one statement (one commit).
_RECORD_AND_CLAIM = text(
    """
    WITH done AS (
        UPDATE messages AS m
        SET status = CAST(:sent AS TEXT), message_id = d.message_id, sent_at = d.sent_at,
            error = NULL, next_attempt_at = NULL, updated_at = :now
        FROM unnest(CAST(:done_ids AS BIGINT[]), CAST(:message_ids AS TEXT[]),
                    CAST(:sent_ats AS TIMESTAMPTZ[])) AS d(id, message_id, sent_at)
        WHERE m.id = d.id
    )
    UPDATE messages
    SET status = CAST(:sending AS TEXT), attempts = attempts + 1, updated_at = :now,
        held_until = NULL, held_by = NULL
    WHERE id = ANY(CAST(:pks AS BIGINT[])) AND status = ANY(CAST(:open AS TEXT[]))
    RETURNING id, correlation_id, instance_id, kind, to_jid, body, status, attempts,
              max_attempts, message_id, error, sent_at, failed_at
    """
).columns(*_SEND_COLUMNS)


async def record_and_claim(
    connection: AsyncConnection, done: Sequence[SendRow], pks: Sequence[int]
) -> list[tuple[SendRow, OutgoingMedia | None]]:
    """`record_sent(done)` and `claim_for_send(pks)` in one write, for a sender's step from one
    message to the next: what must be durable before the next engine call is that the last
    one was sent (a crash then re-sends at most the message in flight) and that the next is
    the sender's (a revoke can no longer cancel it). One statement on PostgreSQL, the two in
    one transaction on SQLite."""
    if connection.dialect.name != "postgresql":
        if done:
            await record_sent(connection, done)
        return await claim_for_send(connection, pks) if pks else []
    now = utcnow()
    result = await connection.execute(
        _RECORD_AND_CLAIM,
        {
            "sent": MessageStatus.SENT.value,
            "sending": MessageStatus.SENDING.value,
            "open": sorted(OPEN),
            "now": now,
            "done_ids": [row.id for row in done],
            "message_ids": [row.message_id for row in done],
            "sent_ats": [row.sent_at for row in done],
            "pks": list(pks),
        },
    )
    claimed = await _with_media(connection, [SendRow(*values) for values in result.all()], pks)
    # A sent message is never sent again: its media bytes go now, with its outcome.
    await drop_media(connection, [row.id for row in done if row.kind in MEDIA_KINDS])
    return claimed


async def set_fields(session: AsyncSession, pk: int, **values: Any) -> None:
    values.setdefault("updated_at", utcnow())
    await session.execute(update(Message).where(Message.id == pk).values(**values))


async def record_sent(session: Executor, rows: Sequence[SendRow]) -> None:
    """The outcomes of many sends in one statement (an executemany by primary key)."""
    await update_many(
        session,
        MESSAGES,
        ["id"],
        [{"id": row.id, "message_id": row.message_id, "sent_at": row.sent_at} for row in rows],
        {
            "status": MessageStatus.SENT,
            "error": None,
            "next_attempt_at": None,
            "updated_at": utcnow(),
        },
    )
    # A sent message is never sent again: its media bytes go now, with its outcome.
    await drop_media(session, [row.id for row in rows if row.kind in MEDIA_KINDS])


async def cancel_queued(session: Executor, pk: int) -> bool:
    """Cancel a message no worker has in hand (still queued): it is final, never sent. False
    when a worker claimed it first (or it is final already): the claim and this update are
    one row's compare-and-set on `status`, so exactly one of them wins."""
    result = await session.execute(
        update(MESSAGES)
        .where(MESSAGES.c.id == pk, MESSAGES.c.status == MessageStatus.QUEUED)
        .values(status=MessageStatus.CANCELLED, next_attempt_at=None, updated_at=utcnow())
    )
    if getattr(result, "rowcount", 0) != 1:
        return False
    await drop_media(session, [pk])
    return True


async def unclaim(session: Executor, pks: Sequence[int]) -> None:
    """Messages claimed but not tried (the send policy holds them) go back to `queued`, the
    claim's attempt given back."""
    if not pks:
        return
    await session.execute(
        update(MESSAGES)
        .where(MESSAGES.c.id.in_(list(pks)), MESSAGES.c.status == MessageStatus.SENDING)
        .values(status=MessageStatus.QUEUED, attempts=MESSAGES.c.attempts - 1, updated_at=utcnow())
    )


async def reclaim(session: Executor, pk: int, attempts: int) -> bool:
    """A worker takes back a message it had put back to `queued` (a retry's wait, a lost
    connection): False when it was cancelled meanwhile, and must not be sent."""
    result = await session.execute(
        update(MESSAGES)
        .where(MESSAGES.c.id == pk, MESSAGES.c.status == MessageStatus.QUEUED)
        .values(status=MessageStatus.SENDING, attempts=attempts, updated_at=utcnow())
    )
    return getattr(result, "rowcount", 0) == 1


async def sent_message(session: AsyncSession, instance_id: int, message_id: str) -> Message | None:
    """The record of one of this API's sends, by its WhatsApp message id."""
    result = await session.execute(
        select(Message)
        .where(Message.instance_id == instance_id, Message.message_id == message_id)
        .limit(1)
    )
    return result.scalar_one_or_none()


def shown_as(status: str) -> list[ColumnElement[bool]]:
    """The stored columns of the messages the API shows with `status` (wagate.message_status:
    the receipts are their times)."""
    if status == MessageStatus.READ:
        return [Message.status == MessageStatus.SENT, Message.read_at.is_not(None)]
    if status == MessageStatus.DELIVERED:
        return [
            Message.status == MessageStatus.SENT,
            Message.delivered_at.is_not(None),
            Message.read_at.is_(None),
        ]
    if status == MessageStatus.SENT:
        return [
            Message.status == MessageStatus.SENT,
            Message.delivered_at.is_(None),
            Message.read_at.is_(None),
        ]
    return [Message.status == status]


# A receipt's key, and its times: (instance, WhatsApp message id) -> (delivered_at, read_at).
ReceiptKey = tuple[int, str]
ReceiptTimes = tuple[datetime | None, datetime | None]


async def advance_receipts(
    connection: AsyncConnection,
    receipts: Mapping[ReceiptKey, ReceiptTimes],
    now: datetime,
    recent: RecentSends | None = None,
) -> dict[ReceiptKey, str]:
    """Apply receipts to the send records they name: the first time of each kind stays, and a
    record not sent yet becomes sent (a receipt proves the message reached WhatsApp); the
    status column is otherwise left alone (wagate.message_status). The correlation id of each
    record found, moved or not.

    The records this node sent lately (`recent`) are written by primary key without a read:
    each time only where the record has none yet. The others are read, then the changed ones
    written by primary key. One UPDATE ... FROM the receipts' arrays ... RETURNING was slower
    in the drain benchmark (its generic plan walked the table), though fast on its own."""
    if not receipts:
        return {}
    known: dict[ReceiptKey, tuple[int, str]] = {}
    if recent is not None:
        known = {key: record for key in receipts if (record := recent.get(key)) is not None}
        await _receipts_of_sent(
            connection, {pk: receipts[key] for key, (pk, _) in known.items()}, now
        )
        receipts = {key: times for key, times in receipts.items() if key not in known}
    sent = {key: correlation_id for key, (_, correlation_id) in known.items()}
    if not receipts:
        return sent
    found = await _records(connection, set(receipts))
    changed = []
    for key, current in found.items():
        delivered_at, read_at = receipts[key]
        new = {
            "id": current["id"],
            "status": MessageStatus.SENT,
            "delivered_at": current["delivered_at"] or delivered_at,
            "read_at": current["read_at"] or read_at,
        }
        if any(current[name] != value for name, value in new.items()):
            changed.append(new)
    await update_many(connection, MESSAGES, ["id"], changed, {"updated_at": now})
    return sent | {key: row["correlation_id"] for key, row in found.items()}


def _not_delivered(_: Any) -> ColumnElement[bool]:
    return MESSAGES.c.delivered_at.is_(None)


def _not_read(_: Any) -> ColumnElement[bool]:
    return MESSAGES.c.read_at.is_(None)


async def _receipts_of_sent(
    connection: AsyncConnection, times: dict[int, ReceiptTimes], now: datetime
) -> None:
    """Receipts' times on records known to be sent, by primary key: a time is written only
    where the record has none (a row whose times are all set already is not written)."""
    delivered = [{"id": pk, "delivered_at": at} for pk, (at, _) in times.items() if at]
    read = [{"id": pk, "read_at": at} for pk, (_, at) in times.items() if at]
    constants = {"updated_at": now}
    await update_many(connection, MESSAGES, ["id"], delivered, constants, where=_not_delivered)
    await update_many(connection, MESSAGES, ["id"], read, constants, where=_not_read)


async def _records(
    connection: AsyncConnection, wanted: set[ReceiptKey]
) -> dict[ReceiptKey, dict[str, Any]]:
    """The columns a receipt may change of the send records it names, by its key."""
    table = MESSAGES
    # By message id alone (its own index; the pairs are checked below): with the instances'
    # list beside it the planner may walk every message of those instances.
    rows = await connection.execute(
        select(
            table.c.id,
            table.c.instance_id,
            table.c.message_id,
            table.c.correlation_id,
            table.c.status,
            table.c.delivered_at,
            table.c.read_at,
        ).where(any_of(table.c.message_id, {mid for _, mid in wanted}))
    )
    found: dict[ReceiptKey, dict[str, Any]] = {}
    for row in rows:
        key = (row.instance_id, row.message_id or "")
        if key in wanted:
            found[key] = dict(row._mapping)
    return found


async def drop_media(session: Executor, pks: Sequence[int]) -> None:
    """Delete the stored media bytes of these messages (those that have any)."""
    if pks:
        await session.execute(
            delete(OUTGOING_MEDIA).where(any_of(OUTGOING_MEDIA.c.message_pk, list(pks)))
        )


_RETENTION_COLUMNS = (Message.id, Message.status, Message.dead_lettered, Message.created_at)


async def retention_batch(
    session: AsyncSession, after: int, limit: int
) -> list[tuple[int, str, bool, datetime]]:
    """(pk, status, dead_lettered, created_at) of the next `limit` messages after pk `after`."""
    result = await session.execute(
        select(*_RETENTION_COLUMNS).where(Message.id > after).order_by(Message.id).limit(limit)
    )
    return [(pk, status, bool(dead), created) for pk, status, dead, created in result.all()]


async def retention_recheck(
    session: AsyncSession, pks: Sequence[int]
) -> list[tuple[int, str, bool, datetime]]:
    """The same columns for these messages (those that still exist)."""
    result = await session.execute(select(*_RETENTION_COLUMNS).where(any_of(Message.id, list(pks))))
    return [(pk, status, bool(dead), created) for pk, status, dead, created in result.all()]


async def blank_bodies(session: AsyncSession, pks: Sequence[int]) -> None:
    """Forget the content of these final messages (text, caption, payload, media); the record
    (id, status, times, recipient, error) stays for GET /messages/{correlation_id}."""
    if not pks:
        return
    await session.execute(
        update(MESSAGES)
        .where(
            any_of(MESSAGES.c.id, list(pks)),
            MESSAGES.c.status.notin_(sorted(OPEN)),
            MESSAGES.c.dead_lettered.is_(False),
        )
        .values(body=BLANK_BODY, edited_text=None)
    )
    await drop_media(session, pks)


async def open_ids(
    session: AsyncSession,
    instance_id: int | None = None,
    older_than: datetime | None = None,
    instance_ids: set[int] | None = None,
) -> list[tuple[str, int]]:
    """(instance name, message pk) of every message not yet final, oldest first."""
    query = (
        select(Instance.name, Message.id)
        .join(Instance, Instance.id == Message.instance_id)
        .where(Message.status.in_(sorted(OPEN)))
    )
    if instance_id is not None:
        query = query.where(Message.instance_id == instance_id)
    if instance_ids is not None:
        query = query.where(any_of(Message.instance_id, instance_ids))
    if older_than is not None:
        query = query.where(Message.updated_at < older_than)
    result = await session.execute(query.order_by(Message.id))
    return [(name, pk) for name, pk in result.all()]


# --- dead letters --------------------------------------------------------------------------


def dead_letters_query(instance_id: int | None) -> Any:
    query = (
        select(Message, Instance.name)
        .join(Instance, Instance.id == Message.instance_id)
        .where(Message.dead_lettered.is_(True))
    )
    if instance_id is not None:
        query = query.where(Message.instance_id == instance_id)
    return query


async def dead_letters(session: AsyncSession, instance_id: int | None) -> list[tuple[Message, str]]:
    query = dead_letters_query(instance_id).order_by(Message.id).limit(10_000)
    result = await session.execute(query)
    return [(message, name) for message, name in result.all()]


async def dead_letter_page(
    session: AsyncSession, instance_id: int | None, after: int, limit: int
) -> Sequence[Row[Message, str]]:
    """Up to `limit` dead letters after the id `after`, with their instance's name."""
    query = dead_letters_query(instance_id).where(Message.id > after)
    return (await session.execute(query.order_by(Message.id).limit(limit))).all()


async def dead_letter(session: AsyncSession, correlation_id: str) -> tuple[Message, str] | None:
    result = await session.execute(
        select(Message, Instance.name)
        .join(Instance, Instance.id == Message.instance_id)
        .where(Message.correlation_id == correlation_id, Message.dead_lettered.is_(True))
    )
    row = result.first()
    return (row[0], row[1]) if row else None


# --- idempotency keys ----------------------------------------------------------------------


async def idempotency_key(
    session: AsyncSession, instance_id: int, key: str
) -> IdempotencyKey | None:
    result = await session.execute(
        select(IdempotencyKey).where(
            IdempotencyKey.instance_id == instance_id, IdempotencyKey.key == key
        )
    )
    return result.scalar_one_or_none()


async def drop_idempotency_key(session: AsyncSession, row_id: int) -> None:
    await session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == row_id))


async def save_idempotent_answer(
    session: AsyncSession, row_id: int, status: int, body: dict[str, Any]
) -> None:
    await session.execute(
        update(IdempotencyKey)
        .where(IdempotencyKey.id == row_id)
        .values(response_status=status, response_body=body)
    )


async def purge_expired(session: AsyncSession, keys_before: datetime) -> None:
    now = utcnow()
    await session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < keys_before))
    await session.execute(delete(ReceivedMedia).where(ReceivedMedia.expires_at < now))


async def keep_received_media(
    session: AsyncSession, is_sqlite: bool, values: dict[str, Any]
) -> None:
    """The received-media row, unless one is there already."""
    insert = sqlite_insert if is_sqlite else pg_insert
    await session.execute(insert(ReceivedMedia).values(**values).on_conflict_do_nothing())


async def drop_received_media(session: AsyncSession, instance_id: int, message_id: str) -> None:
    """A revoked message's media is no longer served (its object goes with its last reference)."""
    await session.execute(
        delete(ReceivedMedia).where(
            ReceivedMedia.instance_id == instance_id, ReceivedMedia.message_id == message_id
        )
    )


async def received_media(
    session: AsyncSession, instance_id: int, message_id: str
) -> ReceivedMedia | None:
    result = await session.execute(
        select(ReceivedMedia).where(
            ReceivedMedia.instance_id == instance_id,
            ReceivedMedia.message_id == message_id,
            ReceivedMedia.expires_at > utcnow(),
        )
    )
    return result.scalar_one_or_none()
