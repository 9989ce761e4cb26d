"""Reads of the history store, each one an index range (docs/performance.md, "History store").

Pages are keyset pages on (time, id): a cursor names the last row a page showed, and the next
page starts strictly past it, so rows written meanwhile neither shift a page nor show twice.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, Row, and_, column, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.db import any_of
from wagate.errors import ValidationFailed
from wagate.history.repository.store import CHAT_MESSAGES, CHATS, CONTACTS
from wagate.message_status import shown
from wagate.models import Message
from wagate.paging import MAX_BIGINT

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CURSOR = re.compile(r"(-?[0-9]{1,17})\.([0-9]{1,19})")


@dataclass(frozen=True, slots=True)
class Cursor:
    at: datetime
    id: int

    def encode(self) -> str:
        return f"{(self.at - EPOCH) // timedelta(microseconds=1)}.{self.id}"

    @classmethod
    def decode(cls, value: str | None, field: str) -> Cursor | None:
        if value is None:
            return None
        found = CURSOR.fullmatch(value)
        if found is None or int(found.group(2)) > MAX_BIGINT:
            raise ValidationFailed.field(field, "not a cursor this API gave")
        try:
            at = EPOCH + timedelta(microseconds=int(found.group(1)))
        except OverflowError as exc:
            raise ValidationFailed.field(field, "not a cursor this API gave") from exc
        return cls(at, int(found.group(2)))


def _before(at: Any, pk: Any, cursor: Cursor) -> Any:
    # The range on the index's time column, then the tie-break: both databases use the index.
    return and_(at <= cursor.at, or_(at < cursor.at, pk < cursor.id))


def _after(at: Any, pk: Any, cursor: Cursor) -> Any:
    return and_(at >= cursor.at, or_(at > cursor.at, pk > cursor.id))


# --- chats ---------------------------------------------------------------------------------


async def chat_page(
    session: AsyncSession, instance_id: int, limit: int, before: Cursor | None
) -> Sequence[Row[Any]]:
    """Chats by last activity, most recent first."""
    table = CHATS.c
    query = select(CHATS).where(table.instance_id == instance_id)
    if before is not None:
        query = query.where(_before(table.last_activity_at, table.id, before))
    query = query.order_by(table.last_activity_at.desc(), table.id.desc()).limit(limit)
    return (await session.execute(query)).all()


async def chat(session: AsyncSession, instance_id: int, jid: str) -> Row[Any] | None:
    table = CHATS.c
    query = select(CHATS).where(table.instance_id == instance_id, table.jid == jid)
    return (await session.execute(query)).first()


# --- messages ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MessageFilter:
    kind: str | None = None
    from_me: bool | None = None
    since: datetime | None = None
    until: datetime | None = None

    def apply(self, query: Any) -> Any:
        table = CHAT_MESSAGES.c
        if self.kind is not None:
            query = query.where(table.kind == self.kind)
        if self.from_me is not None:
            query = query.where(table.from_me.is_(self.from_me))
        if self.since is not None:
            query = query.where(table.timestamp >= self.since)
        if self.until is not None:
            query = query.where(table.timestamp < self.until)
        return query


async def message_page(
    session: AsyncSession,
    instance_id: int,
    jid: str,
    limit: int,
    before: Cursor | None,
    after: Cursor | None,
    where: MessageFilter,
) -> Sequence[Row[Any]]:
    """A chat's messages: newest first, or (with `after`) oldest first from the cursor on."""
    table = CHAT_MESSAGES.c
    query = where.apply(
        select(CHAT_MESSAGES).where(table.instance_id == instance_id, table.chat == jid)
    )
    if after is not None:
        query = query.where(_after(table.timestamp, table.id, after))
        query = query.order_by(table.timestamp.asc(), table.id.asc())
    else:
        if before is not None:
            query = query.where(_before(table.timestamp, table.id, before))
        query = query.order_by(table.timestamp.desc(), table.id.desc())
    return (await session.execute(query.limit(limit))).all()


async def message(
    session: AsyncSession, instance_id: int, jid: str, message_id: str
) -> Row[Any] | None:
    table = CHAT_MESSAGES.c
    query = select(CHAT_MESSAGES).where(
        table.instance_id == instance_id, table.message_id == message_id, table.chat == jid
    )
    return (await session.execute(query)).first()


async def record_statuses(session: AsyncSession, rows: Sequence[Row[Any]]) -> dict[str, str]:
    """correlation_id -> the status the send record shows, for the rows of wagate's own sends:
    their delivered and read receipts are kept on the record only (`store.later_status`)."""
    ids = {row.correlation_id for row in rows if row.correlation_id}
    if not ids:
        return {}
    found = await session.execute(
        select(Message.correlation_id, Message.status, Message.delivered_at, Message.read_at).where(
            any_of(Message.correlation_id, sorted(ids))
        )
    )
    return {
        correlation_id: shown(status, delivered_at, read_at)
        for correlation_id, status, delivered_at, read_at in found.all()
    }


async def message_media(
    session: AsyncSession, instance_id: int, message_id: str
) -> dict[str, Any] | None:
    """The media reference of a kept message (whatever chat it was kept under), None when it
    has none. Its `key` is None when the media could not be fetched."""
    table = CHAT_MESSAGES.c
    query = select(table.media).where(
        table.instance_id == instance_id, table.message_id == message_id, table.media.is_not(None)
    )
    media: dict[str, Any] | None = (await session.execute(query.limit(1))).scalar()
    return media


# --- search --------------------------------------------------------------------------------

WORD = re.compile(r"[^\W_]+")
MAX_WORDS = 16


def words(query: str) -> list[str]:
    """The words of a search, as both full-text engines split and fold them."""
    return list(dict.fromkeys(WORD.findall(query.lower())))[:MAX_WORDS]


def _hits(session: AsyncSession, instance_id: int, found: list[str]) -> Any:
    """(id, timestamp, chat) of the instance's messages with every word (each word as a prefix:
    a search box matches as one types), found through the full-text index. Materialized: the
    planner must not instead walk the instance's messages by time testing each one, which for
    a rare word reads them all."""
    table = CHAT_MESSAGES.c
    if session.get_bind().dialect.name == "sqlite":
        phrase = " ".join(f'"{word}"*' for word in found)
        fts = text("SELECT rowid AS id FROM chat_messages_fts WHERE chat_messages_fts MATCH :fts")
        ids = fts.bindparams(fts=phrase).columns(column("id", Integer)).subquery("fts")
        matching = select(table.id, table.timestamp, table.chat).join(ids, ids.c.id == table.id)
    else:
        tsquery = " & ".join(f"{word}:*" for word in found)
        matches = text("chat_messages.search @@ to_tsquery('simple', :tsq)")
        matching = select(table.id, table.timestamp, table.chat).where(
            matches.bindparams(tsq=tsquery)
        )
    matching = matching.where(table.instance_id == instance_id)
    return matching.cte("hits").prefix_with("MATERIALIZED")


async def search(
    session: AsyncSession,
    instance_id: int,
    found: list[str],
    limit: int,
    before: Cursor | None,
    jid: str | None = None,
) -> Sequence[Row[Any]]:
    """Messages whose text or caption has every word, newest first: the hits are ordered on
    their (time, id) alone, and only the page's rows are read whole."""
    hits = _hits(session, instance_id, found)
    page = select(hits.c.id)
    if jid is not None:
        page = page.where(hits.c.chat == jid)
    if before is not None:
        page = page.where(_before(hits.c.timestamp, hits.c.id, before))
    ids = page.order_by(hits.c.timestamp.desc(), hits.c.id.desc()).limit(limit).subquery()
    table = CHAT_MESSAGES.c
    query = (
        select(CHAT_MESSAGES)
        .join(ids, ids.c.id == table.id)
        .order_by(table.timestamp.desc(), table.id.desc())
    )
    return (await session.execute(query)).all()


# --- contacts ------------------------------------------------------------------------------


async def contact_page(
    session: AsyncSession, instance_id: int, limit: int, after: str | None
) -> Sequence[Row[Any]]:
    table = CONTACTS.c
    query = select(CONTACTS).where(table.instance_id == instance_id)
    if after is not None:
        query = query.where(table.jid > after)
    return (await session.execute(query.order_by(table.jid).limit(limit))).all()
