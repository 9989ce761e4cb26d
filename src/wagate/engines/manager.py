"""The client manager: the live clients of this node, at most one per instance.

Every lifecycle call (connect, disconnect, logout, restart, delete) and every state-changing
engine event runs under the instance's lock, and every client carries a generation number:
an event from a client that was already replaced is dropped, so a stopped client can never
move the instance's status again (no zombie clients).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace

import structlog

from wagate import backoff
from wagate.config import Settings
from wagate.db import Database, utcnow
from wagate.engines.actions import REJECT_CALL, SEND_PRESENCE, PresenceRequest
from wagate.engines.actions.account import AccountPresence
from wagate.engines.base import (
    AccountEvent,
    BlocklistUpdate,
    Connected,
    ContactUpdate,
    Engine,
    EngineClient,
    EngineEvent,
    GroupParticipantsUpdate,
    GroupUpdate,
    HistoryBatch,
    InboundMessage,
    IncomingCall,
    InstanceRef,
    MessageChange,
    NotConnectedError,
    PresenceUpdate,
    QrCode,
    Receipt,
)
from wagate.engines.ownership import Ownership
from wagate.engines.records import SlotRecords
from wagate.engines.slots import (
    Slot,
    count_statuses,
    end_pump,
    is_settled,
    resumed_status,
    start_pump,
)
from wagate.engines.status import LIVE, Status
from wagate.engines.transitions import Transition, on_event
from wagate.events.bus import EventBus, isoformat
from wagate.events.payloads import QrUpdatedData
from wagate.locks import KeyedLocks
from wagate.models import Instance
from wagate.proxies import encrypted_url
from wagate.repository.instances import delete_by_id, get_by_name, to_resume
from wagate.secretbox import SecretBox

log = structlog.get_logger(__name__)

# How many instances a start (or a takeover) connects at once: their writes share group
# commits, so more at once is fewer, larger transactions.
RESUME_CONCURRENCY = 500
STOP_TIMEOUT_S = 70.0  # neonize's stop() can wait out a hanging dial (~60 s)
# How long the settings read with a slot's row stand in for a read at its connect: a change
# made meanwhile is forwarded to this node (it holds the lease before it makes the slot) and
# lands in the slot; the proxy URL is only read at a connect, so keep the window short.
FRESH_SETTINGS_S = 1.0
MessageHook = Callable[[InstanceRef, InboundMessage | Receipt | MessageChange], Awaitable[None]]
GroupHook = Callable[[InstanceRef, GroupUpdate | GroupParticipantsUpdate], Awaitable[None]]
PeopleEvent = PresenceUpdate | ContactUpdate | BlocklistUpdate | IncomingCall
PeopleHook = Callable[[InstanceRef, PeopleEvent], Awaitable[None]]
# A history hook must return at once (hand the import to a task of its own): the instance's
# live events wait behind it on the slot's queue.
HistoryHook = Callable[[InstanceRef, HistoryBatch], Awaitable[None]]


class ClientManager:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        bus: EventBus,
        engines: dict[str, Engine],
        secrets: SecretBox | None = None,
    ) -> None:
        self.settings = settings
        self.db = db
        self.secrets = secrets  # reads an instance's proxy; None: a stored proxy fails a connect
        self.bus = bus
        self.engines = engines
        self._slots: dict[str, Slot] = {}
        # A slot is made once per name (its row read, its lease claimed); other names' slots
        # are made meanwhile. One lock for all names made a node that takes 1,000 instances
        # at start read their rows one after another.
        self._making = KeyedLocks()
        # The instance rows and the events of the slots (what is written, fenced, published).
        self._records = SlotRecords(settings, db, bus, self._offline)
        self._message_hooks: list[MessageHook] = []
        self._group_hooks: list[GroupHook] = []
        self._people_hooks: list[PeopleHook] = []
        self._history_hooks: list[HistoryHook] = []
        self._join_hooks: list[Callable[[str], None]] = []
        self._offline_hooks: list[Callable[[str], None]] = []
        self._closing = False

    @property
    def ownership(self) -> Ownership:
        """This node's hold on instances; cluster mode replaces it with the lease gate
        (wagate.cluster)."""
        return self._records.ownership

    @ownership.setter
    def ownership(self, value: Ownership) -> None:
        self._records.ownership = value

    # --- wiring ------------------------------------------------------------------------------

    def add_message_hook(self, hook: MessageHook) -> None:
        """Inbound messages, receipts and changes to messages (edits, revokes, poll votes) go
        to these (the messages feature)."""
        self._message_hooks.append(hook)

    def add_group_hook(self, hook: GroupHook) -> None:
        """Group changes go to these (the groups feature)."""
        self._group_hooks.append(hook)

    def add_history_hook(self, hook: HistoryHook) -> None:
        """Called with each part of a history sync."""
        self._history_hooks.append(hook)

    def add_people_hook(self, hook: PeopleHook) -> None:
        """Presence, contact, blocklist and call events go to these (the account feature)."""
        self._people_hooks.append(hook)

    def add_join_hook(self, hook: Callable[[str], None]) -> None:
        """Called with the instance's name when it comes to this node (started, resumed, taken
        over): its slot exists from then on."""
        self._join_hooks.append(hook)

    def add_offline_hook(self, hook: Callable[[str], None]) -> None:
        """Called with the instance's name when its client is no longer connected here
        (disconnected, released to another node, lost, deleted): whatever waits to use the
        connection looks again now."""
        self._offline_hooks.append(hook)

    def _offline(self, name: str) -> None:
        for hook in self._offline_hooks:
            hook(name)

    def engine(self, name: str) -> Engine:
        return self.engines[name]

    # --- lifecycle of the manager ------------------------------------------------------------

    async def resume_all(self, concurrency: int = RESUME_CONCURRENCY) -> int:
        """Reconnect every instance the user left connected (on start or takeover)."""
        async with self.db.session() as session:
            rows = [row for row in await to_resume(session) if row.engine in self.engines]
        gate = asyncio.Semaphore(concurrency)

        async def one(row: Instance) -> None:
            async with gate:
                try:
                    await self.connect(row.name, remember=False, row=row)
                except Exception:
                    log.exception("resume failed", instance=row.name)

        await asyncio.gather(*(one(row) for row in rows))
        return len(rows)

    async def close(self) -> None:
        """Stop every client (the instances stay desired-connected: the next start resumes)."""
        self._closing = True
        await asyncio.gather(*(self._release(slot) for slot in list(self._slots.values())))
        self._slots.clear()
        await self._records.drain()

    async def release(self, name: str, reason: str = "handover") -> None:
        """Stop the instance's client here, keeping what the user asked for (the cluster hands
        the instance to another node, or this node lost its lease)."""
        async with self._making.hold(name):  # a slot being made is made first, then released
            slot = self._slots.pop(name, None)
        if slot is not None:
            self._offline(name)
            await self._release(slot, reason)

    async def _release(self, slot: Slot, reason: str = "node_stopping") -> None:
        try:
            async with slot.lock:
                had_client = slot.client is not None or slot.reconnect_task is not None
                await self._stop_client(slot)
                if had_client:
                    await self._records.set_status(slot, Status.DISCONNECTED, reason=reason)
        finally:  # the slot is gone either way: its event pump must not outlive it
            await end_pump(slot)

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

    async def wait_connected(self, name: str, timeout_s: float) -> None:
        """Return once the instance's client is connected here, or after `timeout_s`; at once
        when the instance is not on this node (a caller that loops checks `status_of` for None,
        or it spins without suspending)."""
        slot = self._slots.get(name)
        if slot is None or slot.status == Status.CONNECTED:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):  # no task per wait, unlike wait_for
                await slot.connected.wait()

    async def settled(self, name: str) -> None:
        """Wait until every event the instance's client reported so far has been handled and
        published (its queue is empty and no lifecycle call holds its lock). Callers bound
        the wait with asyncio.timeout."""
        slot = self._slots.get(name)
        if slot is None:
            return
        # Polled: it serves tests and diagnostics, not a hot path.
        while not is_settled(slot):  # noqa: ASYNC110
            await asyncio.sleep(0.005)

    def names(self) -> list[str]:
        """The instances on this node."""
        return list(self._slots)

    def statuses(self) -> dict[str, int]:
        return count_statuses(self._slots.values())

    # --- lifecycle calls ---------------------------------------------------------------------

    async def connect(
        self, name: str, *, remember: bool = True, row: Instance | None = None
    ) -> Status:
        """`row`: the instance's row as just read (a resume reads them all at once)."""
        slot = await self._slot(name, row)
        async with slot.lock:
            self._check_usable(slot)
            if remember:
                await self._records.save(slot, desired_state="connected")
            if slot.client is not None or slot.reconnect_task is not None:
                return slot.status  # idempotent: never a second client
            await self._start_client(slot, row)
            return slot.status

    async def disconnect(self, name: str) -> Status:
        slot = await self._slot(name)
        async with slot.lock:
            self._check_usable(slot)
            await self._records.save(slot, desired_state="stopped")
            await self._stop_client(slot)
            if slot.status != Status.LOGGED_OUT:
                await self._records.set_status(slot, Status.DISCONNECTED, reason="disconnected")
            return slot.status

    async def logout(self, name: str) -> Status:
        slot = await self._slot(name)
        async with slot.lock:
            self._check_usable(slot)
            await self._records.save(slot, desired_state="stopped")
            client = slot.client
            if client is not None and slot.status == Status.CONNECTED:
                try:
                    await asyncio.wait_for(client.logout(), STOP_TIMEOUT_S)
                except Exception as exc:  # the device data is dropped below in any case
                    log.warning("logout call failed", instance=name, error=str(exc))
            await self._stop_client(slot)
            await self.engine(slot.engine).forget(slot.ref)
            slot.ref = InstanceRef(slot.ref.id, slot.ref.name)
            await self._records.set_status(
                slot, Status.LOGGED_OUT, reason="logged_out", jid=None, device_jid=None, phone=None
            )
            return slot.status

    async def restart(self, name: str) -> Status:
        slot = await self._slot(name)
        async with slot.lock:
            self._check_usable(slot)
            await self._records.save(slot, desired_state="connected")
            await self._stop_client(slot)
            if slot.status in LIVE:  # restart is a disconnect then a connect, both visible
                await self._records.set_status(slot, Status.DISCONNECTED, reason="restart")
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
            self._offline(name)
        await end_pump(slot)
        self.bus.close_instance(name)

    async def pair_phone(self, name: str, phone: str) -> str:
        slot = await self._slot(name)
        async with slot.lock:
            self._check_usable(slot)
            if slot.client is None and slot.reconnect_task is None:
                await self._records.save(slot, desired_state="connected")
                await self._start_client(slot)
            client = slot.client
        if client is None:
            raise NotConnectedError("the client could not be started")
        return await client.pair_phone(phone)

    async def update_options(self, name: str, *, reject_calls: bool, always_online: bool) -> None:
        """The instance's settings changed (on this node, which holds it): its slot follows,
        and a connected account shows the presence always_online now asks for."""
        slot = self._slots.get(name)
        if slot is None:
            return
        slot.read_settings = None  # stale now: the next connect reads the row
        slot.reject_calls = reject_calls
        turned = slot.always_online != always_online
        slot.always_online = always_online
        if turned and slot.client is not None and slot.status == Status.CONNECTED:
            await self._send_presence(slot, "available" if always_online else "unavailable")

    async def _send_presence(self, slot: Slot, state: AccountPresence) -> None:
        client = slot.client
        if client is None:
            return
        try:
            await client.call(SEND_PRESENCE, PresenceRequest(state))
        except Exception as exc:  # the next connect sends it again
            log.warning("presence not sent", instance=slot.ref.name, error=str(exc))

    # --- internals ---------------------------------------------------------------------------

    def _check_usable(self, slot: Slot) -> None:
        if slot.deleted:
            raise LookupError(slot.ref.name)  # deleted meanwhile: the caller answers 404
        if self._closing:
            raise NotConnectedError("this node is stopping")

    async def _slot(self, name: str, row: Instance | None = None) -> Slot:
        slot = self._slots.get(name)
        if slot is not None:
            return slot
        async with self._making.hold(name):
            slot = self._slots.get(name)
            if slot is not None:
                return slot
            if self._closing:  # no new slot (and no event pump task) once close() started
                raise NotConnectedError("this node is stopping")
            if row is None:
                async with self.db.session() as session:
                    row = await get_by_name(session, name)
            if row is None:
                raise LookupError(name)
            if row.engine not in self.engines:
                raise NotConnectedError(f"engine '{row.engine}' is not available on this node")
            await self.ownership.claim(row.id, row.name)
            if self._closing:  # close() began meanwhile: it would not see this slot
                raise NotConnectedError("this node is stopping")
            slot = Slot(
                ref=InstanceRef(row.id, row.name, row.jid, row.device_jid),
                engine=row.engine,
                status=resumed_status(Status(row.status)),
                reject_calls=bool((row.settings or {}).get("reject_calls", False)),
                always_online=bool((row.settings or {}).get("always_online", False)),
                read_settings=dict(row.settings or {}),
                read_at=time.monotonic(),
            )
            start_pump(slot, self._handle)
            self._slots[name] = slot
            for hook in self._join_hooks:
                hook(name)
            return slot

    async def _start_client(self, slot: Slot, row: Instance | None = None) -> None:
        if not self.ownership.may_run(slot.ref.id):
            log.warning("client not started: lease not held", instance=slot.ref.name)
            return
        slot.generation += 1
        generation = slot.generation
        slot.qr = None

        def sink(event: EngineEvent) -> None:
            slot.events.put_nowait((generation, event))

        log.debug("client starting", instance=slot.ref.name)
        try:
            proxy = await self._read_settings(slot, row)
        except Exception as exc:  # never a connect without the proxy it should go through
            log.warning("client not started: its settings", instance=slot.ref.name, error=str(exc))
            await self._records.set_status(
                slot, Status.DISCONNECTED, reason=f"connect_failed: {exc}"
            )
            return
        client = self.engine(slot.engine).create_client(replace(slot.ref, proxy=proxy), sink)
        slot.client = client
        # The client starts while `connecting` is written: what it reports waits for the slot's
        # lock (held by the caller), so `connected` still follows `connecting`. Both finish
        # before a failure is handled.
        written, started = await asyncio.gather(
            self._records.set_status(slot, Status.CONNECTING, reason=None),
            client.start(),
            return_exceptions=True,
        )
        if isinstance(written, BaseException):
            await self._stop_client(slot)
            raise written
        if isinstance(started, Exception):
            log.warning("client start failed", instance=slot.ref.name, error=str(started))
            await self._stop_client(slot)
            await self._records.set_status(
                slot, Status.DISCONNECTED, reason=f"connect_failed: {started}"
            )
        elif isinstance(started, BaseException):
            raise started

    async def _read_settings(self, slot: Slot, row: Instance | None = None) -> str | None:
        """The instance's settings, read at every connect (whichever node changed them last;
        `row` when it was read just now): the slot's options, and the proxy URL its client
        must dial through (None: none). A slot made a moment ago has them from its row: a
        takeover's connect saves a round trip."""
        fresh, slot.read_settings = slot.read_settings, None
        if row is not None:
            settings = row.settings or {}
        elif fresh is not None and time.monotonic() - slot.read_at <= FRESH_SETTINGS_S:
            settings = fresh
        else:
            async with self.db.session() as session:
                row = await get_by_name(session, slot.ref.name)
            settings = (row.settings if row is not None else None) or {}
        slot.reject_calls = bool(settings.get("reject_calls", False))
        slot.always_online = bool(settings.get("always_online", False))
        stored = encrypted_url(settings)
        if stored is None:
            return None
        if self.secrets is None:
            raise RuntimeError("the instance has a proxy and this node has no secret key")
        return self.secrets.decrypt(stored)

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

    async def _handle(self, slot: Slot, generation: int, event: EngineEvent) -> None:
        """One event off the slot's queue (its pump calls this, one event at a time)."""
        if isinstance(event, AccountEvent):
            if generation == slot.generation:
                await self._records.touch(slot)
                await self._account_event(slot, event)
            return
        if isinstance(event, IncomingCall):
            if generation == slot.generation:
                await self._call(slot, event)
            return
        async with slot.lock:
            if generation != slot.generation or slot.deleted:
                return  # a replaced client's last words
            transition = on_event(event, slot.ref, utcnow())
            if transition is not None:
                await self._apply(slot, transition)
        await self._after_state_event(slot, generation, event)

    async def _after_state_event(self, slot: Slot, generation: int, event: EngineEvent) -> None:
        # Outside the lock: a slow engine call must not hold up a lifecycle call. Every
        # connect (a reconnect too) shows the account online again: it stays so.
        if isinstance(event, Connected) and slot.always_online and generation == slot.generation:
            await self._send_presence(slot, "available")

    async def _call(self, slot: Slot, event: IncomingCall) -> None:
        for hook in self._people_hooks:
            await hook(slot.ref, event)
        if event.status == "offered" and slot.reject_calls and slot.client:
            await slot.client.call(REJECT_CALL, event)

    async def _account_event(self, slot: Slot, event: AccountEvent) -> None:
        if isinstance(event, InboundMessage | Receipt | MessageChange):
            for hook in self._message_hooks:
                await hook(slot.ref, event)
        elif isinstance(event, PresenceUpdate | ContactUpdate | BlocklistUpdate):
            for people_hook in self._people_hooks:
                await people_hook(slot.ref, event)
        elif isinstance(event, HistoryBatch):
            for history_hook in self._history_hooks:
                await history_hook(slot.ref, event)
        else:
            for group_hook in self._group_hooks:
                await group_hook(slot.ref, event)

    async def _apply(self, slot: Slot, transition: Transition) -> None:
        """Carry out a state event's transition (under the slot's lock)."""
        if transition.stop_client:
            await self._stop_client(slot)
        if transition.forget_device:
            await self.engine(slot.engine).forget(slot.ref)
        slot.ref, slot.qr = transition.ref, transition.qr
        if transition.reset_attempts:
            slot.reconnect_attempt = 0
        if transition.want_stopped:
            await self._records.save(slot, desired_state="stopped")
        await self._records.set_status(
            slot, transition.status, reason=transition.reason, **transition.fields
        )
        if transition.publish_qr and transition.qr is not None:
            qr = transition.qr
            payload = QrUpdatedData(code=qr.code, expires_at=isoformat(qr.expires_at))
            await self._records.publish(slot, payload)
        if transition.reconnect:
            self._schedule_reconnect(slot)
