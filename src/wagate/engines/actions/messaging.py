"""Actions on messages and chats: send, mark read, chat presence."""

from __future__ import annotations

from dataclasses import dataclass

from wagate.engines.actions.spec import Action, declare
from wagate.engines.base import OutgoingMessage, SendResult

SEND: Action[OutgoingMessage, SendResult] = declare(
    "send",
    OutgoingMessage,
    SendResult,
    "Send one validated message (the worker's path: sends go through the queue).",
    failures=("not_on_whatsapp", "contact_blocked", "rate_limited", "spam_suspected"),
)


@dataclass(frozen=True, slots=True)
class ReadRequest:
    chat: str
    message_ids: list[str]
    # Who sent the messages (groups need it); None: the chat itself.
    sender: str | None = None


MARK_READ: Action[ReadRequest, None] = declare(
    "mark_read", ReadRequest, None, "Mark received messages as read."
)


@dataclass(frozen=True, slots=True)
class ChatPresenceRequest:
    chat: str
    state: str  # composing | recording | paused


CHAT_PRESENCE: Action[ChatPresenceRequest, None] = declare(
    "chat_presence", ChatPresenceRequest, None, "Show typing or recording in a chat."
)


@dataclass(frozen=True, slots=True)
class FetchMediaRequest:
    """The media of a history message (its `PendingMedia`), to download now."""

    chat: str
    message_id: str
    mimetype: str
    handle: bytes


@dataclass(frozen=True, slots=True)
class FetchedMedia:
    data: bytes


FETCH_MEDIA: Action[FetchMediaRequest, FetchedMedia] = declare(
    "fetch_media",
    FetchMediaRequest,
    FetchedMedia,
    "Download the media of a history message (the history import's background fetch).",
    failures=("media_unavailable",),
)
