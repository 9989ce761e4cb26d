"""What a linked session does on the gateway's request: send, check, read, presence, calls,
groups (engines/whatsmeow/groups.py) and the account actions (whatsmeow/account.py).

Every neonize call is bounded by a timeout (its worker thread may run on after it, which is
why the host's thread pool is sized generously) and its failures are sorted into transient
(worth a retry) and permanent (not on WhatsApp, media WhatsApp or ffmpeg cannot take).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any, TypeVar

from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import Message
from neonize.utils.enum import ChatPresence, ChatPresenceMedia, ReceiptType

from wagate.engines.actions import (
    CHAT_PRESENCE,
    CHECK_NUMBERS,
    FETCH_MEDIA,
    MARK_READ,
    SEND,
    ActionTable,
    ChatPresenceRequest,
    CheckNumbersRequest,
    FetchedMedia,
    FetchMediaRequest,
    ReadRequest,
    handle,
)
from wagate.engines.base import (
    NumberCheck,
    OutgoingMessage,
    PermanentEngineError,
    SendResult,
    TransientEngineError,
)
from wagate.engines.whatsmeow.account import AccountActions
from wagate.engines.whatsmeow.builders import Quote, build_message, mention_everyone
from wagate.engines.whatsmeow.edits import edits_handlers
from wagate.engines.whatsmeow.groups import GroupActions
from wagate.engines.whatsmeow.jids import jid_string, parse_jid
from wagate.engines.whatsmeow.mapping import to_datetime
from wagate.engines.whatsmeow.session import Session

T = TypeVar("T")
ON_WHATSAPP_TTL_S = 3600.0
COMPOSING, PAUSED = ChatPresence.CHAT_PRESENCE_COMPOSING, ChatPresence.CHAT_PRESENCE_PAUSED
TEXT, AUDIO = (
    ChatPresenceMedia.CHAT_PRESENCE_MEDIA_TEXT,
    ChatPresenceMedia.CHAT_PRESENCE_MEDIA_AUDIO,
)
PRESENCE = {
    "composing": (COMPOSING, TEXT),
    "recording": (COMPOSING, AUDIO),
    "paused": (PAUSED, TEXT),
}
MEDIA_ERRORS = ("UnidentifiedImageError", "DecompressionBombError", "ConvertStickerError")
# What WhatsApp's media servers answer for media they no longer keep (an old history's).
GONE_HINTS = ("404", "410", "gone", "not found")
TRANSIENT_HINTS = ("not connected", "websocket", "timed out", "timeout", "context deadline", "eof")


def classify(exc: BaseException, what: str) -> Exception:
    """A neonize failure as the gateway's transient/permanent engine error."""
    if isinstance(exc, TransientEngineError | PermanentEngineError):
        return exc
    text = str(exc) or type(exc).__name__
    if isinstance(exc, TimeoutError):
        return TransientEngineError(f"{what} timed out")
    if isinstance(exc, RuntimeError) and ("ffmpeg" in text.lower() or "ffprobe" in text.lower()):
        return PermanentEngineError(f"{what}: the media could not be processed ({text})")
    if type(exc).__name__ in (
        "UnidentifiedImageError",
        "DecompressionBombError",
        "ConvertStickerError",
    ):
        return PermanentEngineError(f"{what}: the media was rejected ({text})")
    if any(hint in text.lower() for hint in TRANSIENT_HINTS):
        return TransientEngineError(f"{what}: {text}")
    if type(exc).__name__ in ("ValueError", "KeyError", "EncodeError"):
        return PermanentEngineError(f"{what}: {text}")
    return TransientEngineError(f"{what}: {text}")


class Actions:
    def __init__(self, session: Session, timeout_s: float) -> None:
        self.session = session
        self.timeout_s = timeout_s
        self.on_whatsapp: dict[str, tuple[bool, float]] = {}
        self.table = ActionTable(
            "whatsmeow",
            [
                handle(SEND, self.send),
                handle(CHECK_NUMBERS, self.check_numbers),
                handle(MARK_READ, self.mark_read),
                handle(CHAT_PRESENCE, self.presence),
                handle(FETCH_MEDIA, self.fetch_media),
                *GroupActions(session, self.bounded).handlers(),
                *edits_handlers(self),
                *AccountActions(self).handlers(),
            ],
        )

    async def bounded(self, call: Awaitable[T], what: str, limit_s: float | None = None) -> T:
        """One call into Go: behind the host's gate, bounded, its failure classified."""
        try:
            async with self.session.host.gate.shared():
                return await asyncio.wait_for(call, limit_s or self.timeout_s)
        except Exception as exc:
            raise classify(exc, what) from exc

    async def check_recipient(self, client: Any, to_jid: str) -> None:
        user, _, server = to_jid.partition("@")
        if server != "s.whatsapp.net":
            return  # groups, @lid and broadcast lists are not looked up
        cached = self.on_whatsapp.get(user)
        if cached is None or cached[1] < time.monotonic():
            check = client.is_on_whatsapp(f"+{user}")
            results = await self.bounded(check, "number check")
            found = any(bool(r.IsIn) for r in results)
            self.on_whatsapp[user] = (found, time.monotonic() + ON_WHATSAPP_TTL_S)
            cached = self.on_whatsapp[user]
        if not cached[0]:
            raise PermanentEngineError("the recipient is not on WhatsApp", code="not_on_whatsapp")

    async def send(self, message: OutgoingMessage) -> SendResult:
        client = self.session.require_connected()
        await self.check_recipient(client, message.to_jid)
        if message.mention_everyone and message.to_jid.endswith("@g.us"):
            group = parse_jid(message.to_jid)
            info = await self.bounded(client.get_group_info(group), "group info")
            message = mention_everyone(message, info)
        key = message.body.get("message_id") if message.kind == "reaction" else message.reply_to
        quote = self.session.recent.get(str(key)) if key else None
        built = await self.bounded(
            build_message(client, message, quote),
            f"building the {message.kind} message",
            self.timeout_s * 2,
        )
        response = await self.bounded(client.send_message(parse_jid(message.to_jid), built), "send")
        message_id = str(response.ID)
        if self.session.me:
            self.session.remember(Quote(message_id, self.session.me, built))
        return SendResult(message_id=message_id, timestamp=to_datetime(int(response.Timestamp)))

    async def check_numbers(self, request: CheckNumbersRequest) -> list[NumberCheck]:
        client = self.session.require_connected()
        phones = request.phones
        digits = ["".join(ch for ch in phone if ch.isdigit()) for phone in phones]
        # No spaces inside a number: neonize joins them with spaces and Go splits them again.
        queries = [f"+{d}" for d in digits if d]
        results = await self.bounded(client.is_on_whatsapp(*queries), "number check")
        found: dict[str, str | None] = {}
        for result in results:
            query = "".join(ch for ch in str(result.Query) if ch.isdigit())
            found[query] = jid_string(result.JID) if result.IsIn else None
        checks = []
        for phone, d in zip(phones, digits, strict=True):
            jid = found.get(d)
            checks.append(NumberCheck(phone=phone, on_whatsapp=jid is not None, jid=jid))
            self.on_whatsapp[d] = (jid is not None, time.monotonic() + ON_WHATSAPP_TTL_S)
        return checks

    async def mark_read(self, request: ReadRequest) -> None:
        client = self.session.require_connected()
        chat, message_ids, sender = request.chat, request.message_ids, request.sender
        if not message_ids:
            return
        quote = self.session.recent.get(message_ids[0])
        author = sender or (quote.sender if quote else chat)
        await self.bounded(
            client.mark_read(
                *message_ids,
                chat=parse_jid(chat),
                sender=parse_jid(author),
                receipt=ReceiptType.READ,
            ),
            "mark read",
        )

    async def presence(self, request: ChatPresenceRequest) -> None:
        client = self.session.require_connected()
        chat, state = request.chat, request.state
        if state not in PRESENCE:
            raise PermanentEngineError(f"unknown presence state {state!r}")
        presence, media = PRESENCE[state]
        await self.bounded(client.send_chat_presence(parse_jid(chat), presence, media), "presence")

    async def fetch_media(self, request: FetchMediaRequest) -> FetchedMedia:
        """A history message's media: its waE2E.Message (the handle) downloaded as a live
        message's media is."""
        client = self.session.require_connected()
        try:
            message = Message.FromString(request.handle)
        except Exception as exc:
            raise PermanentEngineError("not a media handle", code="media_unavailable") from exc
        try:
            data = await self.bounded(client.download_any(message), "media download", 120)
        except TransientEngineError as exc:
            if any(hint in str(exc).lower() for hint in GONE_HINTS):
                raise PermanentEngineError(str(exc), code="media_unavailable") from exc
            raise
        if not data:
            raise PermanentEngineError("the media download was empty", code="media_unavailable")
        return FetchedMedia(bytes(data))

    async def logout(self) -> None:
        client = self.session.require_connected()
        try:
            await self.bounded(client.logout(), "logout")
        finally:
            await self.session.stop(None, self.session.host.stop_wait_s)
