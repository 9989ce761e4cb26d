"""What arrives from WhatsApp: inbound messages (message_received) and receipts (message_status)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, Protocol

import structlog
from sqlalchemy import bindparam, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from wagate.batching import GroupCommit
from wagate.db import any_of, utcnow
from wagate.engines.base import InboundMessage, InstanceRef, Receipt
from wagate.events.bus import isoformat
from wagate.events.payloads import (
    InboundMediaInfo,
    MessageReceivedData,
    MessageStatusData,
    Party,
)
from wagate.message_status import RANK, MessageStatus
from wagate.messages.repository import MESSAGES
from wagate.models import ReceivedMedia
from wagate.node import HasBus, HasDb, HasSettings
from wagate.phones import is_group_jid, phone_of

log = structlog.get_logger(__name__)

# What each engine receipt makes of a message ("played", a voice note heard, counts as read).
RECEIPT_STATUS = {
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.READ,
    "played": MessageStatus.READ,
}


def media_url(instance: str, message_id: str) -> str:
    return f"/v1/instances/{instance}/media/{message_id}"


def message_received_data(instance: str, message: InboundMessage) -> dict[str, Any]:
    media = message.media
    in_group = is_group_jid(message.chat)
    return MessageReceivedData(
        message_id=message.message_id,
        chat=message.chat,
        from_=message.sender,
        from_me=message.from_me,
        timestamp=isoformat(message.timestamp),
        kind=message.kind,
        text=message.text,
        caption=message.caption,
        media=None
        if media is None
        else InboundMediaInfo(
            mimetype=media.mimetype,
            filename=media.filename,
            size=len(media.data),
            url=media_url(instance, message.message_id),
        ),
        location=message.location,
        contacts=message.contacts,
        reaction=message.reaction,
        poll=message.poll,
        reply_to=message.reply_to,
        view_once=True if message.view_once else None,
        group=message.chat if in_group else None,
        participant=Party(jid=message.sender, phone=phone_of(message.sender)) if in_group else None,
        mentions=list(message.mentions) or None,
    ).data()


class InboundNode(HasBus, HasDb, HasSettings, Protocol):
    """What the handling of messages and receipts uses of the node."""


class InboundHandler:
    def __init__(self, state: InboundNode) -> None:
        self.state = state
        # The receipts of all instances arriving together update their rows in one transaction.
        self._apply_receipt: GroupCommit[tuple[int, Receipt, MessageStatus], dict[str, str]] = (
            GroupCommit(self._apply_receipts)
        )

    async def close(self) -> None:
        """Shutdown: the receipts in hand are applied (or their callers fail)."""
        await self._apply_receipt.drain()

    async def __call__(self, ref: InstanceRef, item: InboundMessage | Receipt) -> None:
        if isinstance(item, InboundMessage):
            await self.on_message(ref, item)
        else:
            await self.on_receipt(ref, item)

    async def on_message(self, ref: InstanceRef, message: InboundMessage) -> None:
        if message.media is not None:
            await self._keep_media(ref, message)
        await self.state.bus.publish(
            ref.name, ref.id, "message_received", message_received_data(ref.name, message)
        )

    async def _keep_media(self, ref: InstanceRef, message: InboundMessage) -> None:
        assert message.media is not None
        values = {
            "instance_id": ref.id,
            "message_id": message.message_id,
            "mimetype": message.media.mimetype,
            "filename": message.media.filename,
            "size": len(message.media.data),
            "data": message.media.data,
            "expires_at": utcnow() + timedelta(seconds=self.state.settings.media_retention_s),
        }
        insert = sqlite_insert if self.state.db.is_sqlite else pg_insert
        statement = insert(ReceivedMedia).values(**values).on_conflict_do_nothing()
        async with self.state.db.transaction() as session:
            await session.execute(statement)

    async def _apply_receipts(  # noqa: C901
        self, batch: list[tuple[int, Receipt, MessageStatus]]
    ) -> list[dict[str, str]]:
        """Move the messages' status forward; per receipt, message_id -> correlation_id.

        Core statements: the columns needed are read, and the rows that change are written
        in one executemany with their final values (a delivered and a read of the same
        message arriving together make one update)."""
        wanted = {
            (instance_id, mid) for instance_id, receipt, _ in batch for mid in receipt.message_ids
        }
        table = MESSAGES
        found: dict[tuple[int, str], dict[str, Any]] = {}
        changed: dict[int, dict[str, Any]] = {}
        # No transaction: a transaction at READ COMMITTED would not keep the rows read from
        # changing before the update either; receipts only move a status forward.
        async with self.state.db.autocommit() as session:
            rows = await session.execute(
                select(
                    table.c.id,
                    table.c.instance_id,
                    table.c.message_id,
                    table.c.correlation_id,
                    table.c.status,
                    table.c.delivered_at,
                    table.c.read_at,
                ).where(
                    any_of(table.c.instance_id, {instance_id for instance_id, _ in wanted}),
                    any_of(table.c.message_id, {mid for _, mid in wanted}),
                )
            )
            for row in rows:
                key = (row.instance_id, row.message_id or "")
                if key in wanted:
                    found[key] = dict(row._mapping)
            results: list[dict[str, str]] = []
            now = utcnow()
            for instance_id, receipt, status in batch:
                correlations: dict[str, str] = {}
                for message_id in receipt.message_ids:
                    current = found.get((instance_id, message_id))
                    if current is None:
                        continue
                    correlations[message_id] = current["correlation_id"]
                    before = dict(current)
                    if RANK.get(status, 0) > RANK.get(current["status"], -1):
                        current["status"] = status
                    if status == MessageStatus.DELIVERED and current["delivered_at"] is None:
                        current["delivered_at"] = receipt.timestamp
                    if status == MessageStatus.READ and current["read_at"] is None:
                        current["read_at"] = receipt.timestamp
                    if current != before:
                        changed[current["id"]] = current
                results.append(correlations)
            if changed:
                await session.execute(
                    update(table)
                    .where(table.c.id == bindparam("b_id"))
                    .values(
                        status=bindparam("status"),
                        delivered_at=bindparam("delivered_at"),
                        read_at=bindparam("read_at"),
                        updated_at=bindparam("updated_at"),
                    ),
                    [
                        {
                            "b_id": row["id"],
                            "status": row["status"],
                            "delivered_at": row["delivered_at"],
                            "read_at": row["read_at"],
                            "updated_at": now,
                        }
                        for row in changed.values()
                    ],
                )
        return results

    async def on_receipt(self, ref: InstanceRef, receipt: Receipt) -> None:
        status = RECEIPT_STATUS.get(receipt.status)
        correlations: dict[str, str] = {}
        if status is not None:
            correlations = await self._apply_receipt((ref.id, receipt, status))
        events: list[dict[str, Any]] = []
        timestamp = isoformat(receipt.timestamp)
        for message_id in receipt.message_ids:
            data = MessageStatusData(
                message_id=message_id,
                chat=receipt.chat,
                status=receipt.status,
                timestamp=timestamp,
                correlation_id=correlations.get(message_id),
            )
            events.append(data.data())
        # The events of one receipt go out together: each one's durable sink (the webhook
        # outbox) is a group commit, which they share instead of one round trip each.
        publish = self.state.bus.publish
        await asyncio.gather(*(publish(ref.name, ref.id, "message_status", d) for d in events))
