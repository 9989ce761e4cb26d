"""Answers of the chat and history routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from wagate.history.repository.queries import Cursor
from wagate.history.repository.store import later_status

JID = "5511987654321@s.whatsapp.net"
WHEN = "2026-12-04T18:40:00Z"


class LastMessage(BaseModel):
    message_id: str
    kind: str
    from_me: bool
    text: str | None = Field(description="the start of its text or caption")
    # A datetime, not the stored string: written as every other time of the API is (UTC, Z).
    timestamp: datetime


class ChatOut(BaseModel):
    jid: str
    name: str | None
    kind: Literal["direct", "group"]
    unread: int
    last_message: LastMessage | None
    last_message_at: datetime | None
    archived: bool
    pinned: bool
    muted_until: datetime | None

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "jid": JID,
                "name": "Alice",
                "kind": "direct",
                "unread": 2,
                "last_message": {
                    "message_id": "3EB0C767D26A1D9A5B17",
                    "kind": "text",
                    "from_me": False,
                    "text": "see you at 8",
                    "timestamp": WHEN,
                },
                "last_message_at": WHEN,
                "archived": False,
                "pinned": False,
                "muted_until": None,
            }
        }
    )

    @classmethod
    def of(cls, row: Any) -> ChatOut:
        return cls(
            jid=row.jid,
            name=row.name,
            kind=row.kind,
            unread=row.unread,
            last_message=LastMessage(**row.last_message) if row.last_message else None,
            last_message_at=row.last_message_at,
            archived=row.archived,
            pinned=row.pinned,
            muted_until=row.muted_until,
        )


class ChatList(BaseModel):
    chats: list[ChatOut]
    next_cursor: str | None = Field(description="`before` for the next page; null at the end")


class StoredMessage(BaseModel):
    message_id: str
    chat: str
    sender: str | None = Field(description="who sent it; null for wagate's own sends")
    from_me: bool
    kind: str
    text: str | None = Field(description="as first sent (an edit is in edited_text)")
    caption: str | None
    timestamp: datetime
    status: Literal["received", "sent", "delivered", "read", "played"]
    edited_text: str | None
    edited_at: datetime | None
    revoked: bool
    revoked_at: datetime | None
    reply_to: str | None
    reactions: dict[str, str] = Field(description="reacting JID -> emoji")
    media: dict[str, Any] | None = Field(description="the media's reference: mimetype, size")
    extra: dict[str, Any] | None = Field(description="location, contacts, poll, view_once")
    correlation_id: str | None = Field(description="wagate's send record, for its own sends")
    cursor: str = Field(description="names this message in `before` / `after`")

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "message_id": "3EB0C767D26A1D9A5B17",
                "chat": JID,
                "sender": JID,
                "from_me": False,
                "kind": "text",
                "text": "see you at 8",
                "caption": None,
                "timestamp": WHEN,
                "status": "received",
                "edited_text": None,
                "edited_at": None,
                "revoked": False,
                "revoked_at": None,
                "reply_to": None,
                "reactions": {},
                "media": None,
                "extra": None,
                "correlation_id": None,
                "cursor": "1796409600000000.42",
            }
        }
    )

    @classmethod
    def of(cls, row: Any, records: dict[str, str] | None = None) -> StoredMessage:
        """A kept row; `records` are the statuses of the send records of wagate's own sends
        (`queries.record_statuses`), which hold their receipts."""
        recorded = (records or {}).get(row.correlation_id) if row.correlation_id else None
        return cls(
            message_id=row.message_id,
            chat=row.chat,
            sender=row.sender,
            from_me=row.from_me,
            kind=row.kind,
            text=row.text,
            caption=row.caption,
            timestamp=row.timestamp,
            status=later_status(row.status, recorded),
            edited_text=row.edited_text,
            edited_at=row.edited_at,
            revoked=row.revoked_at is not None,
            revoked_at=row.revoked_at,
            reply_to=row.reply_to,
            reactions=row.reactions or {},
            media=row.media,
            extra=row.extra,
            correlation_id=row.correlation_id,
            cursor=Cursor(row.timestamp, row.id).encode(),
        )


class MessagePage(BaseModel):
    messages: list[StoredMessage] = Field(
        description="newest first; oldest first when the page was asked with `after`"
    )
    before: str | None = Field(description="`before` for the older messages; null when none")
    after: str | None = Field(
        description="`after` for what is newer than this page (to poll for new messages)"
    )


class SearchOut(BaseModel):
    messages: list[StoredMessage]
    next_cursor: str | None = Field(description="`before` for the next page; null at the end")


class AddressBookEntryOut(BaseModel):
    jid: str
    push_name: str | None = Field(description="the name the contact gave themselves")
    updated_at: datetime


class ContactList(BaseModel):
    contacts: list[AddressBookEntryOut]
    next_cursor: str | None = Field(description="`after` for the next page; null at the end")
