"""What arrives from WhatsApp: inbound messages (message_received, and message_reaction for a
reaction), receipts (message_status), and changes to messages already in a chat
(message_edited, message_revoked, poll_vote)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, Protocol

import structlog

from wagate.batching import GroupCommit
from wagate.db import utcnow
from wagate.engines.base import (
    InboundMessage,
    InstanceRef,
    MessageChange,
    MessageEdited,
    MessageRevoked,
    PollVote,
    Receipt,
)
from wagate.events.bus import isoformat
from wagate.events.payloads import (
    InboundMediaInfo,
    MessageEditedData,
    MessageReactionData,
    MessageReceivedData,
    MessageRevokedData,
    MessageStatusData,
    Party,
    Payload,
    PollVoteData,
)
from wagate.history.repository import store
from wagate.media_store.refs import keep
from wagate.message_status import MessageStatus
from wagate.messages import repository
from wagate.messages.repository import ReceiptKey, ReceiptTimes
from wagate.node import HasBus, HasDb, HasMediaStore, HasRecentSends, HasSettings
from wagate.phones import is_group_jid, phone_of

log = structlog.get_logger(__name__)
MAX_NAMES = 100_000  # push names remembered as written (beyond, all are forgotten at once)

# What each engine receipt makes of a message ("played", a voice note heard, counts as read).
RECEIPT_STATUS = {
    "delivered": MessageStatus.DELIVERED,
    "read": MessageStatus.READ,
    "played": MessageStatus.READ,
}


def media_url(instance: str, message_id: str) -> str:
    return f"/v1/instances/{instance}/media/{message_id}"


def message_received(instance: str, message: InboundMessage) -> MessageReceivedData:
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
        forwarded=True if message.forwarded else None,
        ephemeral=True if message.ephemeral else None,
        quoted=message.quoted,
        group=message.chat if in_group else None,
        participant=Party(jid=message.sender, phone=phone_of(message.sender)) if in_group else None,
        mentions=list(message.mentions) or None,
    )


class InboundNode(HasBus, HasDb, HasMediaStore, HasRecentSends, HasSettings, Protocol):
    """What the handling of messages and receipts uses of the node."""


class InboundHandler:
    def __init__(self, state: InboundNode) -> None:
        self.state = state
        # The receipts of all instances arriving together update their rows in one transaction.
        self._apply_receipt: GroupCommit[tuple[int, Receipt, MessageStatus], dict[str, str]] = (
            GroupCommit(self._apply_receipts)
        )
        # The messages of all instances arriving together are kept in one transaction.
        self._keep: GroupCommit[tuple[int, InboundMessage], None] = GroupCommit(self._keep_batch)
        # The push names written last: a contact's name is written again only when it changes.
        self._names: dict[tuple[int, str], str] = {}

    async def close(self) -> None:
        """Shutdown: the receipts and messages in hand are written (or their callers fail)."""
        await self._apply_receipt.drain()
        await self._keep.drain()

    async def __call__(
        self, ref: InstanceRef, item: InboundMessage | Receipt | MessageChange
    ) -> None:
        if isinstance(item, InboundMessage):
            await self.on_message(ref, item)
        elif isinstance(item, Receipt):
            await self.on_receipt(ref, item)
        else:
            await self.on_change(ref, item)

    async def on_message(self, ref: InstanceRef, message: InboundMessage) -> None:
        reference = None if message.media is None else await self._keep_media(ref, message)
        # Kept before it is announced: a consumer of the event finds it in the history. A
        # failed write is logged and the event still goes out: it is the durable record.
        try:
            await self._keep((ref.id, message))
            if reference is not None:
                # After the row: an echo or a history import may have kept it first, without
                # the media's place in the store.
                async with self.state.db.transaction() as session:
                    await store.set_media(session, ref.id, message.message_id, reference)
        except Exception as exc:
            log.warning("message not kept in the history", instance=ref.name, error=str(exc))
        await self.state.bus.publish(ref.name, ref.id, message_received(ref.name, message))
        if message.reaction is not None:
            await self._reaction(ref, message)

    async def _reaction(self, ref: InstanceRef, message: InboundMessage) -> None:
        """A reaction is a message of its own (message_received, kind reaction) and, for those
        who follow reactions only, a message_reaction naming the message reacted to."""
        assert message.reaction is not None
        target, emoji = message.reaction["message_id"], message.reaction["emoji"]
        data = MessageReactionData(
            message_id=target,
            chat=message.chat,
            from_=message.sender,
            from_me=message.from_me,
            emoji=emoji,
            removed=not emoji,
            timestamp=isoformat(message.timestamp),
            correlation_id=await self._correlation(ref, target),
        )
        await self.state.bus.publish(ref.name, ref.id, data)

    async def _correlation(self, ref: InstanceRef, message_id: str) -> str | None:
        async with self.state.db.session() as session:
            own = await repository.sent_message(session, ref.id, message_id)
        return None if own is None else own.correlation_id

    async def on_change(self, ref: InstanceRef, change: MessageChange) -> None:
        """An edit, revoke or poll vote: announced; an edit or revoke of one of this API's
        sends (made from the phone) is recorded on its record too."""
        data: Payload
        if isinstance(change, PollVote):
            data = PollVoteData(
                poll_message_id=change.poll_message_id,
                chat=change.chat,
                from_=change.voter,
                from_me=change.from_me,
                options=change.options,
                timestamp=isoformat(change.timestamp),
                correlation_id=await self._correlation(ref, change.poll_message_id),
            )
            await self.state.bus.publish(ref.name, ref.id, data)
            return
        correlation_id = await self._record_change(ref, change)
        common = {
            "message_id": change.message_id,
            "chat": change.chat,
            "from_": change.sender,
            "from_me": change.from_me,
            "timestamp": isoformat(change.timestamp),
            "correlation_id": correlation_id,
        }
        if isinstance(change, MessageEdited):
            data = MessageEditedData(text=change.text, **common)
        else:
            data = MessageRevokedData(**common)
        await self.state.bus.publish(ref.name, ref.id, data)

    async def _record_change(
        self, ref: InstanceRef, change: MessageEdited | MessageRevoked
    ) -> str | None:
        """Marks the message in the history, whoever changed it; returns the correlation id
        when it is one of this API's sends (its record is changed too)."""
        async with self.state.db.transaction() as session:
            if isinstance(change, MessageEdited):
                await store.mark_edited(
                    session, ref.id, change.message_id, change.text, change.timestamp
                )
            else:
                await store.mark_revoked(session, ref.id, change.message_id, change.timestamp)
                await repository.drop_received_media(session, ref.id, change.message_id)
            if not change.from_me:
                return None
            own = await repository.sent_message(session, ref.id, change.message_id)
            if own is None:
                return None
            if isinstance(change, MessageEdited):
                values = {"edited_text": change.text, "edited_at": change.timestamp}
            else:
                values = {"revoked_at": change.timestamp, "revoked_for": "everyone"}
            await repository.set_fields(session, own.id, **values)
            return own.correlation_id

    async def _keep_batch(self, batch: list[tuple[int, InboundMessage]]) -> list[None]:
        rows, reactions, names = self._split(batch)
        async with self.state.db.transaction() as session:
            await store.write_inbound(session, rows, names)
            for instance_id, message_id, sender, emoji in reactions:
                await store.add_reaction(session, instance_id, message_id, sender, emoji)
        if len(self._names) > MAX_NAMES:
            self._names.clear()
        self._names.update(names)
        return [None] * len(batch)

    def _split(
        self, batch: list[tuple[int, InboundMessage]]
    ) -> tuple[list[dict[str, Any]], list[tuple[int, str, str, str]], dict[tuple[int, str], str]]:
        """The rows to keep, the reactions to apply to the messages they name, and the push
        names that changed."""
        rows: list[dict[str, Any]] = []
        reactions: list[tuple[int, str, str, str]] = []
        names: dict[tuple[int, str], str] = {}
        for instance_id, message in batch:
            key = (instance_id, message.sender)
            if (
                message.push_name
                and not message.from_me
                and self._names.get(key) != message.push_name
            ):
                names[key] = message.push_name
            reaction = message.reaction
            if message.kind == "reaction" and reaction and reaction.get("message_id"):
                emoji = str(reaction.get("emoji") or "")
                reactions.append((instance_id, str(reaction["message_id"]), message.sender, emoji))
            else:
                rows.append(store.inbound_row(instance_id, message))
        return rows, reactions, names

    async def _keep_media(self, ref: InstanceRef, message: InboundMessage) -> dict[str, Any]:
        """Store the bytes and their received-media row; returns the history's reference."""
        assert message.media is not None
        # The bytes first: the row written next refers to them (the sweep leaves a claimed
        # object alone meanwhile).
        key = await keep(self.state.db, self.state.media, message.media.data)
        values = {
            "instance_id": ref.id,
            "message_id": message.message_id,
            "mimetype": message.media.mimetype,
            "filename": message.media.filename,
            "size": len(message.media.data),
            "media_key": key,
            "expires_at": utcnow() + timedelta(seconds=self.state.settings.media_retention_s),
        }
        async with self.state.db.transaction() as session:
            await repository.keep_received_media(session, self.state.db.is_sqlite, values)
        return store.media_reference(
            key,
            message.media.mimetype,
            len(message.media.data),
            message.media.filename,
            media_url(ref.name, message.message_id),
        )

    async def _apply_receipts(
        self, batch: list[tuple[int, Receipt, MessageStatus]]
    ) -> list[dict[str, str]]:
        """Keep the receipts' times on the send records and move the history's statuses
        forward; per receipt, message_id -> correlation_id of the records found."""
        # No transaction: a transaction at READ COMMITTED would not keep the rows read from
        # changing before the update either; receipts only move a record forward.
        async with self.state.db.autocommit() as session:
            found = await repository.advance_receipts(
                session, _receipt_times(batch), utcnow(), self.state.recent_sends
            )
            # A send record holds its delivered and read times, which the history shows for
            # its message (store.later_status): the history row moves only for messages sent
            # elsewhere (from the phone), and for what a record does not hold (played).
            await store.advance_status(
                session,
                [
                    (instance_id, message_id, receipt.status)
                    for instance_id, receipt, status in batch
                    for message_id in receipt.message_ids
                    if (instance_id, message_id) not in found or status.value != receipt.status
                ],
            )
        return [
            {mid: found[(iid, mid)] for mid in receipt.message_ids if (iid, mid) in found}
            for iid, receipt, _ in batch
        ]

    async def on_receipt(self, ref: InstanceRef, receipt: Receipt) -> None:
        status = RECEIPT_STATUS.get(receipt.status)
        correlations: dict[str, str] = {}
        if status is not None:
            correlations = await self._apply_receipt((ref.id, receipt, status))
        timestamp = isoformat(receipt.timestamp)
        events = [
            MessageStatusData(
                message_id=message_id,
                chat=receipt.chat,
                status=receipt.status,
                timestamp=timestamp,
                correlation_id=correlations.get(message_id),
            )
            for message_id in receipt.message_ids
        ]
        # The events of one receipt go out together: each one's durable sink (the webhook
        # outbox) is a group commit, which they share instead of one round trip each.
        publish = self.state.bus.publish
        await asyncio.gather(*(publish(ref.name, ref.id, d) for d in events))


def _receipt_times(
    batch: list[tuple[int, Receipt, MessageStatus]],
) -> dict[ReceiptKey, ReceiptTimes]:
    """Per message the receipts name, the time of its first delivered and of its first read
    receipt in the batch (a delivered and a read of one message arriving together make one
    write)."""
    times: dict[ReceiptKey, ReceiptTimes] = {}
    for instance_id, receipt, status in batch:
        for message_id in receipt.message_ids:
            delivered_at, read_at = times.get((instance_id, message_id), (None, None))
            if status == MessageStatus.DELIVERED and delivered_at is None:
                delivered_at = receipt.timestamp
            if status == MessageStatus.READ and read_at is None:
                read_at = receipt.timestamp
            times[(instance_id, message_id)] = (delivered_at, read_at)
    return times
