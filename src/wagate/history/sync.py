"""History sync: the history WhatsApp sends a device after linking, imported into the store.

The engines hand over its parts (`HistoryBatch`); the importer queues them and writes them
from a task of its own, so that the instance's live messages never wait behind a history of
thousands of messages. Each part is written in chunks (one transaction each); a message kept
already (keyed by chat + message_id) is skipped, so parts that overlap, or a history sent
twice, land once. The instance's `history_sync` setting says what is taken: off (nothing),
recent (the last `history_sync_days` days) or full. After each part, a `history_sync` event.

A history message's media comes without its bytes (`PendingMedia`): the message is kept with a
media reference whose key is null, and the media is fetched afterwards, once, by a task of its
own, one download at a time (FETCH_MEDIA through the instance's client), then stored like
received media and served by GET .../media/{message_id}. A download that fails leaves the key
null: the route answers 410 gone for it, as for bytes that left the store.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog

from wagate.db import utcnow
from wagate.engines.actions import FETCH_MEDIA, FetchMediaRequest
from wagate.engines.base import HistoryBatch, HistoryChat, InboundMessage, InstanceRef
from wagate.events.payloads import HistorySyncData
from wagate.history.repository import store
from wagate.history.repository import sync as repository
from wagate.instances.schemas import InstanceSettings
from wagate.media_store.refs import keep
from wagate.messages.inbound import media_url
from wagate.node import HasBus, HasDb, HasManager, HasMediaStore, HasSettings
from wagate.repository.instances import get_by_name

log = structlog.get_logger(__name__)
CHUNK = 500  # messages per transaction: a chunk never holds the database for long
FETCH_TIMEOUT_S = 180.0  # one media download (a large video over a slow link)


class HistoryNode(HasBus, HasDb, HasManager, HasMediaStore, HasSettings, Protocol):
    """What the import uses of the node: the database and the bus for its events, the
    instances' clients and the media store for the history's media."""


@dataclass(frozen=True, slots=True)
class MediaFetch:
    """One history message's media, to download."""

    ref: InstanceRef
    chat: str
    message_id: str
    reference: dict[str, Any]  # its media reference, without a key yet
    handle: bytes


def window(settings: dict[str, Any] | None, now: datetime) -> tuple[bool, datetime | None]:
    """Whether the instance imports its history, and the oldest time it takes (None: all)."""
    values = InstanceSettings(**(settings or {}))
    if values.history_sync == "recent":
        return True, now - timedelta(days=values.history_sync_days)
    return values.history_sync == "full", None


def _rows(
    ref: InstanceRef, batch: HistoryBatch, oldest: datetime | None
) -> tuple[list[dict[str, Any]], list[InboundMessage], int]:
    """The rows to keep, the reactions among the messages, and how many are too old."""
    rows: list[dict[str, Any]] = []
    reactions: list[InboundMessage] = []
    too_old = 0
    for chat in batch.chats:
        for message in chat.messages:
            if oldest is not None and message.timestamp < oldest:
                too_old += 1
            elif message.kind == "reaction":
                reactions.append(message)
            else:
                rows.append(_row(ref, message))
    return rows, reactions, too_old


def _row(ref: InstanceRef, message: InboundMessage) -> dict[str, Any]:
    row = store.inbound_row(ref.id, message)
    pending = message.pending_media
    if pending is not None:
        # Known before it is fetched: the key comes with the bytes (null until then).
        row["media"] = store.media_reference(
            None,
            pending.mimetype,
            pending.size,
            pending.filename,
            media_url(ref.name, message.message_id),
        )
    return row


def _fetches(ref: InstanceRef, new: list[dict[str, Any]], batch: HistoryBatch) -> list[MediaFetch]:
    """The media to fetch of the rows just kept (a message kept before is not fetched again)."""
    handles = {
        (message.chat, message.message_id): message.pending_media.handle
        for chat in batch.chats
        for message in chat.messages
        if message.pending_media is not None
    }
    return [
        MediaFetch(ref, row["chat"], row["message_id"], row["media"], handle)
        for row in new
        if (handle := handles.get((row["chat"], row["message_id"]))) is not None
    ]


class HistoryImporter:
    """The history hook: queues each part and imports them in order, in the background."""

    def __init__(self, state: HistoryNode) -> None:
        self.state = state
        self._queue: asyncio.Queue[tuple[InstanceRef, HistoryBatch]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.media = HistoryMedia(state)

    async def __call__(self, ref: InstanceRef, batch: HistoryBatch) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="history-import")
        self._queue.put_nowait((ref, batch))

    async def drain(self) -> None:
        """Until every part queued so far is imported and its media fetched (tests, and an
        orderly stop)."""
        if self._task is not None and not self._task.done():
            await self._queue.join()
        await self.media.drain()

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            await self._queue.join()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        # The downloads still queued are not waited for: their messages keep a null key.
        await self.media.close()

    async def _run(self) -> None:
        while True:
            ref, batch = await self._queue.get()
            try:
                await self.import_batch(ref, batch)
            except Exception as exc:  # one bad part never stops the next ones
                log.warning("history part not imported", instance=ref.name, error=str(exc))
            finally:
                self._queue.task_done()

    async def import_batch(self, ref: InstanceRef, batch: HistoryBatch) -> None:
        async with self.state.db.session() as session:
            row = await get_by_name(session, ref.name)
        if row is None or row.id != ref.id:
            return  # deleted meanwhile
        imports, oldest = window(row.settings, utcnow())
        if not imports:
            return  # history_sync off: nothing imported, nothing to report
        rows, reactions, too_old = _rows(ref, batch, oldest)
        names = {(ref.id, jid): name for jid, name in batch.push_names.items() if name}
        kept = 0
        for start in range(0, len(rows), CHUNK):
            async with self.state.db.transaction() as session:
                new = await store.write_new(session, rows[start : start + CHUNK], {})
            kept += len(new)
            self.media.queue(_fetches(ref, new, batch))  # each message's media fetched once
            await asyncio.sleep(0)  # the live traffic's turn
        async with self.state.db.transaction() as session:
            for message in reactions:
                await _react(session, ref.id, message)
            await _chat_states(session, ref.id, batch.chats)
            if names:
                await store.write_inbound(session, [], names)
        data = HistorySyncData(
            chats=len(batch.chats),
            messages=kept,
            skipped=too_old + len(rows) - kept,
            progress=batch.progress,
            done=batch.final,
        )
        log.info("history part imported", instance=ref.name, messages=kept, done=batch.final)
        await self.state.bus.publish(ref.name, ref.id, data)


async def _react(session: Any, instance_id: int, message: InboundMessage) -> None:
    reaction = message.reaction or {}
    if reaction.get("message_id"):
        sender = store.OWN if message.from_me else message.sender
        target, emoji = str(reaction["message_id"]), str(reaction.get("emoji") or "")
        await store.add_reaction(session, instance_id, target, sender, emoji)


async def _chat_states(session: Any, instance_id: int, chats: tuple[HistoryChat, ...]) -> None:
    """The phone's unread counts and chat names: what it shows, not a count of the rows."""
    for chat in chats:
        values: dict[str, Any] = {}
        if chat.unread is not None:
            values["unread"] = chat.unread
        if chat.name and store.chat_kind(chat.jid) == "group":
            values["name"] = chat.name
        if values:
            await repository.set_chat(session, instance_id, chat.jid, values)


class HistoryMedia:
    """Fetches the history's media in the background, one download at a time, so that a
    history of thousands of photos never holds up the live messages or their media."""

    def __init__(self, state: HistoryNode) -> None:
        self.state = state
        self._queue: asyncio.Queue[MediaFetch] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    def queue(self, fetches: list[MediaFetch]) -> None:
        if not fetches:
            return
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="history-media")
        for fetch in fetches:
            self._queue.put_nowait(fetch)

    async def drain(self) -> None:
        if self._task is not None and not self._task.done():
            await self._queue.join()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            fetch = await self._queue.get()
            try:
                await self.fetch(fetch)
            except Exception as exc:  # the message keeps a null key: 410 gone for its media
                log.info(
                    "history media not fetched",
                    instance=fetch.ref.name,
                    message_id=fetch.message_id,
                    error=str(exc),
                )
            finally:
                self._queue.task_done()

    async def fetch(self, fetch: MediaFetch) -> None:
        limit = self.state.settings.max_media_bytes
        if int(fetch.reference.get("size") or 0) > limit:
            raise ValueError("larger than WAGATE_MAX_MEDIA_BYTES: not downloaded")
        client = self.state.manager.connected_client(fetch.ref.name)
        request = FetchMediaRequest(
            fetch.chat, fetch.message_id, str(fetch.reference["mimetype"]), fetch.handle
        )
        fetched = await asyncio.wait_for(client.call(FETCH_MEDIA, request), FETCH_TIMEOUT_S)
        if len(fetched.data) > limit:
            raise ValueError("larger than WAGATE_MAX_MEDIA_BYTES")
        key = await keep(self.state.db, self.state.media, fetched.data)
        reference = fetch.reference | {"key": key, "size": len(fetched.data)}
        async with self.state.db.transaction() as session:
            await store.set_media(session, fetch.ref.id, fetch.message_id, reference)
