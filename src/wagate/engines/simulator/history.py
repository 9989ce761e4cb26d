"""The history the simulated phone sends a newly linked device, as WhatsApp does: a few
chats with messages both ways, in parts, the last one final.

Its message ids follow from the instance, the chat and the message's place, so a history sent
again (POST .../simulator/history) overlaps the first one exactly: the import keeps it once.
Every fourth message is a photo, announced without its bytes as WhatsApp's history does: the
device fetches them afterwards (FETCH_MEDIA, `fetch_history_media`), and the network keeps
them MEDIA_KEPT long only: an older one is gone.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from wagate.engine_failures import PermanentEngineError
from wagate.engines.base import HistoryBatch, HistoryChat, InboundMessage, PendingMedia

PNG = b"\x89PNG\r\n\x1a\n"
MEDIA_KEPT = timedelta(days=30)  # how long the simulated network keeps a message's media

PART_CHATS = 2  # chats per part: a history of several chats arrives in several parts


@dataclass(frozen=True, slots=True)
class HistoryShape:
    chats: int
    messages: int  # per chat
    days: int  # the oldest message is this old


def contact_of(index: int) -> str:
    return f"49170{index:07d}@s.whatsapp.net"


def history_id(instance_id: int, chat: int, message: int) -> str:
    digest = hashlib.sha256(f"{instance_id}:{chat}:{message}".encode()).hexdigest()
    return "3EB0" + digest[:16].upper()


def _chat(
    instance_id: int, own: str, index: int, shape: HistoryShape, now: datetime
) -> HistoryChat:
    contact = contact_of(index)
    step = timedelta(days=shape.days) / shape.messages
    messages = []
    for number in range(shape.messages):
        from_me = number % 3 == 2  # every third message is the phone's own reply
        message_id = history_id(instance_id, index, number)
        # Whole seconds (as WhatsApp's timestamps are), oldest first.
        at = (now - step * (shape.messages - number)).replace(microsecond=0)
        content: dict[str, object] = {"kind": "text", "text": f"history {index}.{number}"}
        if number % 4 == 1:
            content = {
                "kind": "image",
                "caption": f"history photo {index}.{number}",
                "pending_media": photo(message_id, at),
            }
        messages.append(
            InboundMessage(
                message_id=message_id,
                chat=contact,
                sender=own if from_me else contact,
                from_me=from_me,
                timestamp=at,
                **content,  # type: ignore[arg-type]
            )
        )
    unread = 0 if messages[-1].from_me else 1
    return HistoryChat(jid=contact, name=None, unread=unread, messages=tuple(messages))


def history_of(
    instance_id: int, own: str, shape: HistoryShape, now: datetime
) -> list[HistoryBatch]:
    """The parts of the history, with the contacts' push names."""
    chats = [_chat(instance_id, own, index, shape, now) for index in range(shape.chats)]
    parts = [chats[start : start + PART_CHATS] for start in range(0, len(chats), PART_CHATS)]
    batches = []
    for number, part in enumerate(parts, start=1):
        names = {chat.jid: f"Contact {chat.jid[5:12].lstrip('0') or '0'}" for chat in part}
        batches.append(
            HistoryBatch(
                chats=tuple(part),
                progress=number * 100 // len(parts),
                final=number == len(parts),
                push_names=names,
            )
        )
    return batches


def photo_bytes(message_id: str) -> bytes:
    """The bytes of a history photo: a PNG signature and bytes of its own."""
    return PNG + hashlib.sha256(message_id.encode()).digest() * 64


def photo(message_id: str, sent_at: datetime) -> PendingMedia:
    # The handle says which photo and when it was sent: what the network needs to find it.
    handle = f"{message_id}|{int(sent_at.timestamp())}".encode()
    return PendingMedia("image/png", None, len(photo_bytes(message_id)), handle)


def fetch_history_media(handle: bytes, now: datetime) -> bytes:
    """The photo a handle names, as the network serves it: gone once older than MEDIA_KEPT."""
    message_id, _, sent = handle.decode("ascii", "replace").partition("|")
    if not sent.isdigit() or not message_id:
        raise PermanentEngineError("no such media", code="media_unavailable")
    if now - datetime.fromtimestamp(int(sent), UTC) > MEDIA_KEPT:
        raise PermanentEngineError(
            "the media is no longer on the network", code="media_unavailable"
        )
    return photo_bytes(message_id)
