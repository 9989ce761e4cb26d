"""What the client manager writes and publishes for its slots: the instance row's status
columns (fenced by the node's hold on the instance), the liveness touch, and the events."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import structlog

from wagate.batching import GroupCommit
from wagate.config import Settings
from wagate.db import Database, utcnow
from wagate.engines import ownership
from wagate.engines.slots import Slot
from wagate.engines.status import Status, check_transition
from wagate.engines.transitions import announced, status_columns
from wagate.events.bus import EventBus
from wagate.events.payloads import ConnectionUpdateData, Payload

TOUCH_INTERVAL_S = 5.0  # last_event_at is written at most this often per instance

log = structlog.get_logger(__name__)


class SlotRecords:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        bus: EventBus,
        offline: Callable[[str], None] = lambda name: None,
    ) -> None:
        self.settings = settings
        self._offline = offline  # told when a connected client is no longer
        self.db = db
        self.bus = bus
        self._touches: GroupCommit[Slot, None] = GroupCommit(self._touch_batch)
        # Status and setting writes of all slots that write at once share one transaction:
        # a node that starts, or stops, thousands of clients together wrote one row per
        # commit, which made its start and its stop take minutes.
        self._saves: GroupCommit[tuple[Slot, dict[str, Any]], bool] = GroupCommit(self._save_batch)
        # Cluster mode replaces it with the lease gate (wagate.cluster).
        self.ownership: ownership.Ownership = ownership.LocalOwnership()

    async def drain(self) -> None:
        await self._saves.drain()
        await self._touches.drain()

    async def set_status(
        self, slot: Slot, new: Status, *, reason: str | None, **fields: Any
    ) -> None:
        previous = slot.status
        check_transition(previous, new)
        slot.status = new
        log.debug("status", instance=slot.ref.name, status=new, previous=previous)
        if new == Status.CONNECTED:
            slot.connected.set()
        else:
            slot.connected.clear()
            if previous == Status.CONNECTED:
                self._offline(slot.ref.name)
        values = status_columns(new, reason, self.settings.node_id, utcnow(), fields)
        if not await self.save(slot, **values):
            return  # fenced off: another node holds the instance now
        if announced(previous, new, fields):
            jid = fields.get("jid", slot.ref.jid)
            update = ConnectionUpdateData(status=new, previous=previous, reason=reason, jid=jid)
            await self.publish(slot, update)

    async def touch(self, slot: Slot) -> None:
        # last_event_at is a liveness hint, not a log: one UPDATE per receipt would cost as much
        # as the receipt itself under load, so it is written at most once per TOUCH_INTERVAL_S.
        now = time.monotonic()
        if now - slot.touched_at < TOUCH_INTERVAL_S:
            return
        slot.touched_at = now
        await self._touches(slot)

    async def _touch_batch(self, slots: list[Slot]) -> list[None]:
        # The touches of all instances that are due together share one transaction.
        now = utcnow()
        async with self.db.transaction() as session:
            await self.ownership.write_many(
                session, [(slot.ref.id, {"last_event_at": now}) for slot in slots]
            )
        return [None] * len(slots)

    async def save(self, slot: Slot, **fields: Any) -> bool:
        """Write the instance's fields (fenced); False when this node no longer holds it.
        Returns once the write is committed."""
        return await self._saves((slot, fields))

    async def _save_batch(self, items: list[tuple[Slot, dict[str, Any]]]) -> list[bool]:
        # In the order they came: two writes of one slot keep theirs.
        async with self.db.transaction() as session:
            return await self.ownership.write_many(
                session, [(slot.ref.id, fields) for slot, fields in items]
            )

    async def publish(self, slot: Slot, payload: Payload) -> None:
        await self.bus.publish(slot.ref.name, slot.ref.id, payload)
