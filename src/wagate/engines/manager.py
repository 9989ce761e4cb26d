"""The client manager: the live clients of this node, at most one per instance.

Every lifecycle call (connect, disconnect, logout, restart, delete) and every state-changing
engine event runs under the instance's lock, and every client carries a generation number:
an event from a client that was already replaced is dropped, so a stopped client can never
move the instance's status again (no zombie clients).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from wagate import backoff
from wagate.batching import GroupCommit
from wagate.config import Settings
from wagate.db import Database, utcnow
from wagate.engines import ownership
from wagate.engines.actions import REJECT_CALL
from wagate.engines.base import (
    AccountEvent,
    BlocklistUpdate,
    Connected,
    ConnectFailed,
    ConnectionLost,
    ContactUpdate,
    Engine,
    EngineClient,
    EngineEvent,
    GroupParticipantsUpdate,
    GroupUpdate,
    InboundMessage,
    IncomingCall,
    InstanceRef,
    LoggedOut,
    NotConnectedError,
    PresenceUpdate,
    QrCode,
    QrTimeout,
    Receipt,
    StreamReplaced,
)
from wagate.engines.status import LIVE, Status, check_transition
from wagate.events.bus import EventBus, isoformat
from wagate.events.payloads import ConnectionUpdateData, QrUpdatedData
from wagate.instance_rows import delete_by_id, get_by_name, to_resume
from wagate.locks import KeyedLocks
from wagate.tasks import wait_tasks

log = structlog.get_logger(__name__)

TOUCH_INTERVAL_S = 5.0  # last_event_at is written at most this often per instance
PUMP_DRAIN_S = 10.0  # a slot's event pump gets this long to finish the events in its queue
STOP_TIMEOUT_S = 70.0  # neonize's stop() can wait out a hanging dial (~60 s)
MessageHook = Callable[[InstanceRef, InboundMessage | Receipt], Awaitable[None]]
GroupHook = Callable[[InstanceRef, GroupUpdate | GroupParticipantsUpdate], Awaitable[None]]
PeopleEvent = PresenceUpdate | ContactUpdate | BlocklistUpdate | IncomingCall
PeopleHook = Callable[[InstanceRef, PeopleEvent], Awaitable[None]]


@dataclass(eq=False)
class Slot:
    """This node's hold on one instance."""

    ref: InstanceRef
    engine: str
    status: Status
    reject_calls: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    client: EngineClient | None = None
    generation: int = 0
    qr: QrCode | None = None
    reconnect_task: asyncio.Task[None] | None = None
    reconnect_attempt: int = 0
    deleted: bool = False
    # None ends the pump: it finishes the event in hand rather than being cancelled mid-write.
    events: asyncio.Queue[tuple[int, EngineEvent] | None] = field(default_factory=asyncio.Queue)
    pump: asyncio.Task[None] | None = None
    busy: bool = False  # the pump is handling an event it took off the queue
    touched_at: float = float("-inf")  # monotonic time of the last last_event_at write


class ClientManager:
    def __init__(
        self, settings: Settings, db: Database, bus: EventBus, engines: dict[str, Engine]
    ) -> None:
        self.settings = settings
        self.db = db
        self.bus = bus
        self.engines = engines
        self._slots: dict[str, Slot] = {}
        # A slot is made once per name (its row read, its lease claimed); other names' slots
        # are made meanwhile. One lock for all names made a node that takes 1,000 instances
        # at start read their rows one after another.
        self._making = KeyedLocks()
        self._touches: GroupCommit[Slot, None] = GroupCommit(self._touch_batch)
        self._message_hooks: list[MessageHook] = []
        self._group_hooks: list[GroupHook] = []
        self._people_hooks: list[PeopleHook] = []
        self._closing = False
        # Cluster mode replaces it with the lease gate (wagate.cluster).
        self.ownership: ownership.Ownership = ownership.LocalOwnership()

    # --- wiring ------------------------------------------------------------------------------

    def add_message_hook(self, hook: MessageHook) -> None:
        """Inbound messages and receipts go to these (the messages feature)."""
        self._message_hooks.append(hook)

    def add_group_hook(self, hook: GroupHook) -> None:
        """Group changes go to these (the groups feature)."""
        self._group_hooks.append(hook)

    def add_people_hook(self, hook: PeopleHook) -> None:
        """Presence, contact, blocklist and call events go to these (the account feature)."""
        self._people_hooks.append(hook)

    def engine(self, name: str) -> Engine:
        return self.engines[name]

    # --- lifecycle of the manager ------------------------------------------------------------

    async def resume_all(self, concurrency: int = 50) -> int:
        """Reconnect every instance the user left connected (on start or takeover)."""
        async with self.db.session() as session:
            rows = await to_resume(session)
            names = [row.name for row in rows if row.engine in self.engines]
        gate = asyncio.Semaphore(concurrency)

        async def one(name: str) -> None:
            async with gate:
                try:
                    await self.connect(name, remember=False)
                except Exception:
                    log.exception("resume failed", instance=name)

        await asyncio.gather(*(one(n) for n in names))
        return len(names)

    async def close(self) -> None:
        """Stop every client (the instances stay desired-connected: the next start resumes)."""
        self._closing = True
        await asyncio.gather(*(self._release(slot) for slot in list(self._slots.values())))
        self._slots.clear()
        await self._touches.drain()

    async def release(self, name: str, reason: str = "handover") -> None:
        """Stop the instance's client here, keeping what the user asked for (the cluster hands
        the instance to another node, or this node lost its lease)."""
        async with self._making.hold(name):  # a slot being made is made first, then released
            slot = self._slots.pop(name, None)
        if slot is not None:
            await self._release(slot, reason)

    async def _release(self, slot: Slot, reason: str = "node_stopping") -> None:
        try:
            async with slot.lock:
                had_client = slot.client is not None or slot.reconnect_task is not None
                await self._stop_client(slot)
                if had_client:
                    await self._set_status(slot, Status.DISCONNECTED, reason=reason)
        finally:  # the slot is gone either way: its event pump must not outlive it
            await self._end_pump(slot)

    # --- queries -----------------------------------------------------------------------------

    def status_of(self, name: str) -> Status | None:
        slot = self._slots.get(name)
        return slot.status if slot else None

    def current_qr(self, name: str) -> QrCode | None:
        slot = self._slots.get(name)
        if slot is None or slot.status != Status.PAIRING:
            return None
        return slot.qr

    def live_client(self, name: str) -> EngineClient | None:
        slot = self._slots.get(name)
        return slot.client if slot else None

    def connected_client(self, name: str) -> EngineClient:
        slot = self._slots.get(name)
        if slot is None or slot.client is None or slot.status != Status.CONNECTED:
            raise NotConnectedError(f"instance '{name}' is not connected")
        return slot.client

    async def settled(self, name: str) -> None:
        """Wait until every event the instance's client reported so far has been handled and
        published (its queue is empty and no lifecycle call holds its lock). Callers bound
        the wait with asyncio.timeout."""
        slot = self._slots.get(name)
        if slot is None:
            return
        # Polled: it serves tests and diagnostics, not a hot path.
        while not (slot.events.empty() and not slot.lock.locked() and not slot.busy):  # noqa: ASYNC110
            await asyncio.sleep(0.005)

    def statuses(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for slot in self._slots.values():
            counts[slot.status.value] = counts.get(slot.status.value, 0) + 1
        return counts

    # --- lifecycle calls ---------------------------------------------------------------------

    async def connect(self, name: str, *, remember: bool = True) -> Status:
        slot = await self._slot(name)
        async with slot.lock:
            self._check_usable(slot)
            if remember:
                await self._save(slot, desired_state="connected")
            if slot.client is not None or slot.reconnect_task is not None:
                return slot.status  # idempotent: never a second client
            await self._start_client(slot)
            return slot.status

    async def disconnect(self, name: str) -> Status:
        slot = await self._slot(name)
        async with slot.lock:
            self._check_usable(slot)
            await self._save(slot, desired_state="stopped")
            await self._stop_client(slot)
            if slot.status != Status.LOGGED_OUT:
                await self._set_status(slot, Status.DISCONNECTED, reason="disconnected")
            return slot.status

    async def logout(self, name: str) -> Status:
        slot = await self._slot(name)
        async with slot.lock:
            self._check_usable(slot)
            await self._save(slot, desired_state="stopped")
            client = slot.client
            if client is not None and slot.status == Status.CONNECTED:
                try:
                    await asyncio.wait_for(client.logout(), STOP_TIMEOUT_S)
                except Exception as exc:  # the device data is dropped below in any case
                    log.warning("logout call failed", instance=name, error=str(exc))
            await self._stop_client(slot)
            await self.engine(slot.engine).forget(slot.ref)
            slot.ref = InstanceRef(slot.ref.id, slot.ref.name)
            await self._set_status(
                slot, Status.LOGGED_OUT, reason="logged_out", jid=None, device_jid=None, phone=None
            )
            return slot.status

    async def restart(self, name: str) -> Status:
        slot = await self._slot(name)
        async with slot.lock:
            self._check_usable(slot)
            await self._save(slot, desired_state="connected")
            await self._stop_client(slot)
            if slot.status in LIVE:  # restart is a disconnect then a connect, both visible
                await self._set_status(slot, Status.DISCONNECTED, reason="restart")
            await self._start_client(slot)
            return slot.status

    async def delete(self, name: str) -> None:
        """Stop the client, unlink the device, forget its data and delete the instance row.

        The row goes while the lock is held and before the slot leaves the table: a connect
        racing the delete either finds the slot marked deleted or finds no row at all, never
        a fresh slot for a row about to vanish (a zombie client of a deleted instance).
        """
        slot = await self._slot(name)
        async with slot.lock:
            self._check_usable(slot)
            slot.deleted = True
            client = slot.client
            if client is not None and slot.status == Status.CONNECTED:
                try:
                    await asyncio.wait_for(client.logout(), STOP_TIMEOUT_S)
                except Exception as exc:
                    log.warning("logout on delete failed", instance=name, error=str(exc))
            await self._stop_client(slot)
            await self.engine(slot.engine).forget(slot.ref)
            async with self.db.transaction() as session:
                await delete_by_id(session, slot.ref.id)
        if self._slots.get(name) is slot:
            del self._slots[name]
        await self._end_pump(slot)
        self.bus.close_instance(name)

    async def pair_phone(self, name: str, phone: str) -> str:
        slot = await self._slot(name)
        async with slot.lock:
            self._check_usable(slot)
            if slot.client is None and slot.reconnect_task is None:
                await self._save(slot, desired_state="connected")
                await self._start_client(slot)
            client = slot.client
        if client is None:
            raise NotConnectedError("the client could not be started")
        return await client.pair_phone(phone)

    def update_options(self, name: str, *, reject_calls: bool) -> None:
        slot = self._slots.get(name)
        if slot is not None:
            slot.reject_calls = reject_calls

    # --- internals ---------------------------------------------------------------------------

    def _check_usable(self, slot: Slot) -> None:
        if slot.deleted:
            raise LookupError(slot.ref.name)  # deleted meanwhile: the caller answers 404
        if self._closing:
            raise NotConnectedError("this node is stopping")

    async def _slot(self, name: str) -> Slot:
        slot = self._slots.get(name)
        if slot is not None:
            return slot
        async with self._making.hold(name):
            slot = self._slots.get(name)
            if slot is not None:
                return slot
            if self._closing:  # no new slot (and no event pump task) once close() started
                raise NotConnectedError("this node is stopping")
            async with self.db.session() as session:
                row = await get_by_name(session, name)
            if row is None:
                raise LookupError(name)
            if row.engine not in self.engines:
                raise NotConnectedError(f"engine '{row.engine}' is not available on this node")
            await self.ownership.claim(row.id, row.name)
            if self._closing:  # close() began meanwhile: it would not see this slot
                raise NotConnectedError("this node is stopping")
            status = Status(row.status)
            if status in LIVE:  # left over from a node that stopped: nothing runs here yet
                status = Status.DISCONNECTED
            slot = Slot(
                ref=InstanceRef(row.id, row.name, row.jid, row.device_jid),
                engine=row.engine,
                status=status,
                reject_calls=bool((row.settings or {}).get("reject_calls", False)),
            )
            slot.pump = asyncio.create_task(self._pump(slot), name=f"events:{name}")
            self._slots[name] = slot
            return slot

    async def _start_client(self, slot: Slot) -> None:
        if not self.ownership.may_run(slot.ref.id):
            log.warning("client not started: lease not held", instance=slot.ref.name)
            return
        slot.generation += 1
        generation = slot.generation
        slot.qr = None

        def sink(event: EngineEvent) -> None:
            slot.events.put_nowait((generation, event))

        client = self.engine(slot.engine).create_client(slot.ref, sink)
        slot.client = client
        await self._set_status(slot, Status.CONNECTING, reason=None)
        try:
            await client.start()
        except Exception as exc:
            log.warning("client start failed", instance=slot.ref.name, error=str(exc))
            await self._stop_client(slot)
            await self._set_status(slot, Status.DISCONNECTED, reason=f"connect_failed: {exc}")

    async def _stop_client(self, slot: Slot) -> None:
        task = slot.reconnect_task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        slot.reconnect_task = None
        client, slot.client = slot.client, None
        slot.generation += 1  # anything the old client still says is ignored from now on
        slot.qr = None
        if client is not None:
            try:
                await asyncio.wait_for(client.stop(), STOP_TIMEOUT_S)
            except Exception as exc:
                log.warning("client stop failed", instance=slot.ref.name, error=str(exc))

    def _schedule_reconnect(self, slot: Slot) -> None:
        # Jittered: after a network blip every instance of the node reconnects at once.
        delay = backoff.delay(
            slot.reconnect_attempt,
            self.settings.reconnect_base_delay_s,
            self.settings.reconnect_max_delay_s,
            random.random(),
        )
        slot.reconnect_attempt += 1

        async def reconnect() -> None:
            await asyncio.sleep(delay)
            async with slot.lock:
                if slot.reconnect_task is not asyncio.current_task() or slot.deleted:
                    return
                slot.reconnect_task = None
                if slot.client is None and not self._closing:
                    await self._start_client(slot)

        slot.reconnect_task = asyncio.create_task(reconnect(), name=f"reconnect:{slot.ref.name}")

    async def _end_pump(self, slot: Slot) -> None:
        pump = slot.pump
        if pump is None or pump.done():
            return
        slot.events.put_nowait(None)
        await wait_tasks([pump], PUMP_DRAIN_S, f"event pump of {slot.ref.name}")

    async def _pump(self, slot: Slot) -> None:
        while True:
            item = await slot.events.get()
            if item is None:
                return
            generation, event = item
            slot.busy = True
            try:
                if isinstance(event, AccountEvent):
                    if generation == slot.generation:
                        await self._touch(slot)
                        await self._account_event(slot, event)
                    continue
                if isinstance(event, IncomingCall):
                    if generation == slot.generation:
                        await self._call(slot, event)
                    continue
                async with slot.lock:
                    if generation != slot.generation or slot.deleted:
                        continue  # a replaced client's last words
                    await self._on_state_event(slot, event)
            except Exception:
                log.exception("event handling failed", instance=slot.ref.name)
            finally:
                slot.busy = False

    async def _call(self, slot: Slot, event: IncomingCall) -> None:
        for hook in self._people_hooks:
            await hook(slot.ref, event)
        if event.status == "offered" and slot.reject_calls and slot.client:
            await slot.client.call(REJECT_CALL, event)

    async def _account_event(self, slot: Slot, event: AccountEvent) -> None:
        if isinstance(event, InboundMessage | Receipt):
            for hook in self._message_hooks:
                await hook(slot.ref, event)
        elif isinstance(event, PresenceUpdate | ContactUpdate | BlocklistUpdate):
            for people_hook in self._people_hooks:
                await people_hook(slot.ref, event)
        else:
            for group_hook in self._group_hooks:
                await group_hook(slot.ref, event)

    async def _on_state_event(self, slot: Slot, event: EngineEvent) -> None:
        name = slot.ref.name
        if isinstance(event, QrCode):
            slot.qr = event
            await self._set_status(
                slot,
                Status.PAIRING,
                reason=None,
                qr_code=event.code,
                qr_expires_at=event.expires_at,
            )
            qr = QrUpdatedData(code=event.code, expires_at=isoformat(event.expires_at))
            await self._publish(slot, "qr_updated", qr.data())
        elif isinstance(event, Connected):
            slot.qr = None
            slot.reconnect_attempt = 0
            # A resumed device reports itself again: the one recorded at link stays if the
            # engine has no device JID to give.
            device = event.device or slot.ref.device
            slot.ref = InstanceRef(slot.ref.id, name, event.jid, device)
            await self._set_status(
                slot,
                Status.CONNECTED,
                reason=None,
                jid=event.jid,
                device_jid=device,
                phone=event.phone,
                connected_at=utcnow(),
            )
        elif isinstance(event, ConnectionLost | ConnectFailed):
            permanent = isinstance(event, ConnectFailed) and event.permanent
            await self._stop_client(slot)
            if permanent:
                await self._set_status(slot, Status.DISCONNECTED, reason=event.reason)
            else:
                await self._set_status(slot, Status.RECONNECTING, reason=event.reason)
                self._schedule_reconnect(slot)
        elif isinstance(event, LoggedOut):
            await self._stop_client(slot)
            await self.engine(slot.engine).forget(slot.ref)
            slot.ref = InstanceRef(slot.ref.id, name)
            await self._save(slot, desired_state="stopped")
            await self._set_status(
                slot, Status.LOGGED_OUT, reason=event.reason, jid=None, device_jid=None, phone=None
            )
        elif isinstance(event, StreamReplaced):
            await self._stop_client(slot)
            await self._save(slot, desired_state="stopped")
            await self._set_status(slot, Status.DISCONNECTED, reason="stream_replaced")
        elif isinstance(event, QrTimeout):
            await self._stop_client(slot)
            await self._save(slot, desired_state="stopped")
            await self._set_status(slot, Status.DISCONNECTED, reason="qr_timeout")

    async def _set_status(
        self, slot: Slot, new: Status, *, reason: str | None, **fields: Any
    ) -> None:
        previous = slot.status
        check_transition(previous, new)
        slot.status = new
        now = utcnow()
        values: dict[str, Any] = {
            "status": new.value,
            "last_error": reason if new != Status.CONNECTED else None,
            "last_event_at": now,
            "node": self.settings.node_id if new in LIVE else None,
            **fields,
        }
        if new == Status.DISCONNECTED and reason == "disconnected":
            values["last_error"] = None
        if new != Status.PAIRING:
            values.update(qr_code=None, qr_expires_at=None)
        if not await self._save(slot, **values):
            return  # fenced off: another node holds the instance now
        if new != previous or fields.get("jid") is not None:
            jid = fields.get("jid", slot.ref.jid)
            update = ConnectionUpdateData(status=new, previous=previous, reason=reason, jid=jid)
            await self._publish(slot, "connection_update", update.data())

    async def _touch(self, slot: Slot) -> None:
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
            for slot in slots:
                await self.ownership.write(session, slot.ref.id, {"last_event_at": now})
        return [None] * len(slots)

    async def _save(self, slot: Slot, **fields: Any) -> bool:
        async with self.db.transaction() as session:
            return await self.ownership.write(session, slot.ref.id, fields)

    async def _publish(self, slot: Slot, event: str, data: dict[str, Any]) -> None:
        await self.bus.publish(slot.ref.name, slot.ref.id, event, data)
