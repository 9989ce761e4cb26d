"""neonize's HistorySyncEv as the gateway's HistoryBatch parts (engine host side).

The history arrives as conversations of `WebMessageInfo`s. Each becomes an InboundMessage as a
live message would, without its media (downloading a whole history's media would hold the
connection for hours: the kind and caption say what it was). A big sync is cut into parts of
at most MAX_PART messages, so that no frame to the gateway grows with the phone's history.
"""

from __future__ import annotations

from typing import Any

from wagate.engines.base import HistoryBatch, HistoryChat, InboundMessage
from wagate.engines.whatsmeow import mapping

MAX_PART = 500
SERVERS = ("@s.whatsapp.net", "@g.us", "@lid")  # chats a person or a group (not status, news)


def chat_jid(conversation: Any) -> str:
    """A 1:1 chat under its phone number where the phone says it, else as named."""
    jid = str(conversation.ID)
    if jid.endswith("@lid") and conversation.pnJID:
        return str(conversation.pnJID)
    return jid


async def history_message(info: Any, chat: str, own: str) -> InboundMessage | None:
    """One `WebMessageInfo` of a conversation, or None for what carries no user content."""
    key = info.key
    found = await mapping.history_content(info.message)
    if found is None or not key.ID:
        return None  # stubs (joined, changed the subject...), protocol messages
    content, values = found
    from_me = bool(key.fromMe)
    participant = str(key.participant or info.participant)
    sender = own if from_me else participant or chat
    return InboundMessage(
        message_id=str(key.ID),
        chat=chat,
        sender=sender,
        from_me=from_me,
        timestamp=mapping.to_datetime(int(info.messageTimestamp)),
        quoted=mapping.quoted(content),
        forwarded=mapping.forwarded(content),
        push_name=str(info.pushName) or None,
        **values,
    )


async def _chat(conversation: Any, own: str) -> HistoryChat | None:
    jid = chat_jid(conversation)
    if not jid.endswith(SERVERS):
        return None
    messages = []
    for item in conversation.messages:
        message = await history_message(item.message, jid, own)
        if message is not None:
            messages.append(message)
    messages.sort(key=lambda message: message.timestamp)
    name = str(conversation.name or conversation.displayName) or None
    unread = int(conversation.unreadCount) if conversation.HasField("unreadCount") else None
    return HistoryChat(jid=jid, name=name, unread=unread, messages=tuple(messages))


def _cut(chat: HistoryChat, size: int) -> list[HistoryChat]:
    """A conversation longer than a part, as several (the unread count on the first)."""
    if len(chat.messages) <= size:
        return [chat]
    return [
        HistoryChat(
            chat.jid, chat.name, chat.unread if start == 0 else None, chat.messages[start:][:size]
        )
        for start in range(0, len(chat.messages), size)
    ]


def _parts(chats: list[HistoryChat], size: int) -> list[list[HistoryChat]]:
    parts: list[list[HistoryChat]] = [[]]
    count = 0
    for piece in (piece for chat in chats for piece in _cut(chat, size)):
        if parts[-1] and count + len(piece.messages) > size:
            parts.append([])
            count = 0
        parts[-1].append(piece)
        count += len(piece.messages)
    return parts


async def history_batches(sync: Any, own: str, size: int = MAX_PART) -> list[HistoryBatch]:
    """A `HistorySync` (the `Data` of HistorySyncEv) as parts of at most `size` messages; the
    last one is final when the sync's progress reached 100."""
    chats = [chat for c in sync.conversations if (chat := await _chat(c, own)) is not None]
    names = {str(p.ID): str(p.pushname) for p in sync.pushnames if p.ID and p.pushname}
    progress = int(sync.progress) if sync.HasField("progress") else None
    parts = _parts(chats, size)
    return [
        HistoryBatch(
            chats=tuple(part),
            progress=progress,
            final=number == len(parts) and progress == 100,
            push_names=names if number == 1 else {},
        )
        for number, part in enumerate(parts, start=1)
    ]
