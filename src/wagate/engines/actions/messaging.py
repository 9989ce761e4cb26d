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
