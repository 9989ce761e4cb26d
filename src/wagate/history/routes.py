"""Chats, their messages, search and the address book (API.md "Chats and history").

They read the history store only: any node answers, without the instance's connection.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, Protocol

from fastapi import APIRouter, Depends, Query

from wagate.auth.dependencies import InstancePrincipal
from wagate.errors import NotFound, ValidationFailed
from wagate.errors import error_responses as errors
from wagate.history.repository import queries
from wagate.history.repository.queries import Cursor, MessageFilter
from wagate.history.schemas import (
    AddressBookEntryOut,
    ChatList,
    ChatOut,
    ContactList,
    MessagePage,
    SearchOut,
    StoredMessage,
)
from wagate.instances import service as instances
from wagate.node import HasDb, get_node
from wagate.phones import InvalidRecipient, to_jid


class HistoryNode(HasDb, Protocol):
    """What the history routes use of the node: the database."""


State = Annotated[HistoryNode, Depends(get_node)]
router = APIRouter(prefix="/v1/instances/{instance}", tags=["chats and history"])
READ_ERRORS = errors(404, 422)

Limit = Annotated[int, Query(ge=1, le=500, description="at most this many")]
CursorParam = Annotated[str | None, Query(max_length=40)]


def chat_jid(chat: str) -> str:
    try:
        return to_jid(chat)
    except InvalidRecipient as exc:
        raise ValidationFailed.field("chat", str(exc)) from exc


@router.get("/chats", response_model=ChatList, responses=READ_ERRORS)
async def list_chats(
    instance: str,
    state: State,
    _: InstancePrincipal,
    limit: Limit = 50,
    before: CursorParam = None,
) -> ChatList:
    cursor = Cursor.decode(before, "before")
    row = await instances.load(state, instance)
    async with state.db.api_session() as session:
        rows = await queries.chat_page(session, row.id, limit + 1, cursor)
    page = rows[:limit]
    more = len(rows) > limit
    return ChatList(
        chats=[ChatOut.of(found) for found in page],
        next_cursor=Cursor(page[-1].last_activity_at, page[-1].id).encode() if more else None,
    )


@router.get("/chats/{chat}", response_model=ChatOut, responses=READ_ERRORS)
async def get_chat(instance: str, chat: str, state: State, _: InstancePrincipal) -> ChatOut:
    jid = chat_jid(chat)
    row = await instances.load(state, instance)
    async with state.db.api_session() as session:
        found = await queries.chat(session, row.id, jid)
    if found is None:
        raise NotFound(f"no chat '{jid}' kept")
    return ChatOut.of(found)


@router.get("/chats/{chat}/messages", response_model=MessagePage, responses=READ_ERRORS)
async def list_chat_messages(
    instance: str,
    chat: str,
    state: State,
    _: InstancePrincipal,
    limit: Limit = 50,
    before: CursorParam = None,
    after: CursorParam = None,
    kind: Annotated[str | None, Query(pattern=r"^[a-z_]{1,16}$")] = None,
    direction: Literal["in", "out"] | None = None,
    since: Annotated[datetime | None, Query(description="at or after this time")] = None,
    until: Annotated[datetime | None, Query(description="before this time")] = None,
) -> MessagePage:
    if before is not None and after is not None:
        raise ValidationFailed.field("after", "give `before` or `after`, not both")
    older, newer = Cursor.decode(before, "before"), Cursor.decode(after, "after")
    where = MessageFilter(
        kind=kind,
        from_me=None if direction is None else direction == "out",
        since=since,
        until=until,
    )
    jid = chat_jid(chat)
    row = await instances.load(state, instance)
    async with state.db.api_session() as session:
        rows = await queries.message_page(session, row.id, jid, limit + 1, older, newer, where)
        records = await queries.record_statuses(session, rows[:limit])
    more = len(rows) > limit
    messages = [StoredMessage.of(found, records) for found in rows[:limit]]
    return page_of(messages, more, forward=newer is not None, given_after=after)


def page_of(
    messages: list[StoredMessage], more: bool, *, forward: bool, given_after: str | None
) -> MessagePage:
    """The cursors around a page: walking back, `before` continues while there is more;
    walking forward (`after`), `after` is where to poll from next, even on an empty page."""
    if not messages:
        return MessagePage(messages=[], before=None, after=given_after)
    if forward:
        return MessagePage(messages=messages, before=messages[0].cursor, after=messages[-1].cursor)
    return MessagePage(
        messages=messages,
        before=messages[-1].cursor if more else None,
        after=messages[0].cursor,
    )


@router.get(
    "/chats/{chat}/messages/{message_id}", response_model=StoredMessage, responses=READ_ERRORS
)
async def get_chat_message(
    instance: str, chat: str, message_id: str, state: State, _: InstancePrincipal
) -> StoredMessage:
    jid = chat_jid(chat)
    row = await instances.load(state, instance)
    async with state.db.api_session() as session:
        found = await queries.message(session, row.id, jid, message_id)
        records = await queries.record_statuses(session, [found] if found else [])
    if found is None:
        raise NotFound(f"no message '{message_id}' kept in chat '{jid}'")
    return StoredMessage.of(found, records)


@router.get("/messages/search", response_model=SearchOut, responses=READ_ERRORS)
async def search_messages(
    instance: str,
    state: State,
    _: InstancePrincipal,
    q: Annotated[str, Query(min_length=1, max_length=256, description="words to find")],
    chat: Annotated[str | None, Query(max_length=128, description="only in this chat")] = None,
    limit: Limit = 50,
    before: CursorParam = None,
) -> SearchOut:
    found = queries.words(q)
    if not found:
        raise ValidationFailed.field("q", "no word to search for")
    cursor = Cursor.decode(before, "before")
    jid = None if chat is None else chat_jid(chat)
    row = await instances.load(state, instance)
    async with state.db.api_session() as session:
        rows = await queries.search(session, row.id, found, limit + 1, cursor, jid)
        records = await queries.record_statuses(session, rows[:limit])
    messages = [StoredMessage.of(item, records) for item in rows[:limit]]
    more = len(rows) > limit
    return SearchOut(messages=messages, next_cursor=messages[-1].cursor if more else None)


@router.get("/contacts", response_model=ContactList, responses=READ_ERRORS)
async def list_contacts(
    instance: str,
    state: State,
    _: InstancePrincipal,
    limit: Limit = 100,
    after: Annotated[str | None, Query(max_length=128)] = None,
) -> ContactList:
    row = await instances.load(state, instance)
    async with state.db.api_session() as session:
        rows = await queries.contact_page(session, row.id, limit + 1, after)
    page = rows[:limit]
    return ContactList(
        contacts=[
            AddressBookEntryOut(jid=item.jid, push_name=item.push_name, updated_at=item.updated_at)
            for item in page
        ],
        next_cursor=page[-1].jid if len(rows) > limit else None,
    )
