"""History sync: the history WhatsApp sends a device after linking, imported into the store.

The engines hand over its parts (`HistoryBatch`); the importer queues them and writes them
from a task of its own, so that the instance's live messages never wait behind a history of
thousands of messages. Each part is written in chunks (one transaction each); a message kept
already (keyed by chat + message_id) is skipped, so parts that overlap, or a history sent
twice, land once. The instance's `history_sync` setting says what is taken: off (nothing),
recent (the last `history_sync_days` days) or full. After each part, a `history_sync` event.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog

from wagate.db import utcnow
from wagate.engines.base import HistoryBatch, HistoryChat, InboundMessage, InstanceRef
from wagate.events.payloads import HistorySyncData
from wagate.history.repository import store
from wagate.history.repository import sync as repository
from wagate.instances.schemas import InstanceSettings
from wagate.node import HasBus, HasDb
from wagate.repository.instances import get_by_name

log = structlog.get_logger(__name__)
CHUNK = 500  # messages per transaction: a chunk never holds the database for long


class HistoryNode(HasBus, HasDb, Protocol):
    """What the import uses of the node: the database and the bus for its events."""


def window(settings: dict[str, Any] | None, now: datetime) -> tuple[bool, datetime | None]:
    """Whether the instance imports its history, and the oldest time it takes (None: all)."""
    values = InstanceSettings(**(settings or {}))
    if values.history_sync == "recent":
        return True, now - timedelta(days=values.history_sync_days)
    return values.history_sync == "full", None


def _rows(
    instance_id: int, batch: HistoryBatch, oldest: datetime | None
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
                rows.append(store.inbound_row(instance_id, message))
    return rows, reactions, too_old


class HistoryImporter:
    """The history hook: queues each part and imports them in order, in the background."""

    def __init__(self, state: HistoryNode) -> None:
        self.state = state
        self._queue: asyncio.Queue[tuple[InstanceRef, HistoryBatch]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def __call__(self, ref: InstanceRef, batch: HistoryBatch) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="history-import")
        self._queue.put_nowait((ref, batch))

    async def drain(self) -> None:
        """Until every part queued so far is imported (tests, and an orderly stop)."""
        if self._task is not None and not self._task.done():
            await self._queue.join()

    async def close(self) -> None:
        await self.drain()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

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
        rows, reactions, too_old = _rows(ref.id, batch, oldest)
        names = {(ref.id, jid): name for jid, name in batch.push_names.items() if name}
        kept = 0
        for start in range(0, len(rows), CHUNK):
            async with self.state.db.transaction() as session:
                kept += await store.write_inbound(session, rows[start : start + CHUNK], {})
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
