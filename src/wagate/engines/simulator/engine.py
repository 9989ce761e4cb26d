"""The simulator engine: an in-process stand-in for the WhatsApp network (API.md, last section).

It keeps the linked device, the delivered messages and the connections in the gateway's
database, so a restarted gateway (or another node) resumes a linked instance without a scan
and a test can count what was sent from anywhere.
"""

from __future__ import annotations

import asyncio
import functools
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

import structlog

from wagate.batching import GroupCommit
from wagate.config import Settings
from wagate.db import Database, utcnow
from wagate.engines.actions import (
    CHAT_PRESENCE,
    CHECK_NUMBERS,
    FETCH_MEDIA,
    MARK_READ,
    SEND,
    Action,
    ActionTable,
    ChatPresenceRequest,
    CheckNumbersRequest,
    FetchedMedia,
    FetchMediaRequest,
    ReadRequest,
    handle,
)
from wagate.engines.base import (
    Connected,
    ConnectionLost,
    EngineHealth,
    EventSink,
    InboundMedia,
    InboundMessage,
    InstanceRef,
    LoggedOut,
    NotConnectedError,
    NotPairingError,
    NumberCheck,
    OutgoingMessage,
    PermanentEngineError,
    QrCode,
    QrTimeout,
    Receipt,
    SendResult,
    TransientEngineError,
)
from wagate.engines.simulator.account import AccountState, SimulatedAccount, read_accounts
from wagate.engines.simulator.edits import SimulatedEdits, edits_handlers
from wagate.engines.simulator.groups import GroupNetwork, deliver, groups_handlers
from wagate.engines.simulator.history import HistoryShape, fetch_history_media, history_of
from wagate.engines.simulator.network import new_message_id, on_whatsapp, random_phone
from wagate.engines.simulator.relay import GroupEvent, NoticeRelay
from wagate.engines.simulator.repository import connections, messages
from wagate.message_kinds import Kind
from wagate.models import SimulatorOutbox
from wagate.tasks import stop_tasks, wait_tasks

log = structlog.get_logger(__name__)
Req = TypeVar("Req")
Res = TypeVar("Res")

STOP_WAIT_S = 10.0  # how long stop() lets a client finish its current database step


# --- what the simulated network records of each kind ---------------------------------------


def _needs(*fields: str) -> Callable[[OutgoingMessage], dict[str, Any]]:
    """A kind whose body must carry these fields, as a phone needs them to show it."""

    def record(message: OutgoingMessage) -> dict[str, Any]:
        missing = [field for field in fields if message.body.get(field) is None]
        if missing:
            raise PermanentEngineError(f"a {message.kind} message needs {', '.join(missing)}")
        return dict(message.body)

    return record


def _with_media(message: OutgoingMessage) -> dict[str, Any]:
    """A media kind: its body (caption, view_once...) and what the media was."""
    if message.media is None:
        raise PermanentEngineError(f"a {message.kind} message needs media")
    body = dict(message.body)
    body["media"] = {
        "mimetype": message.media.mimetype,
        "size": len(message.media.data),
        "filename": message.media.filename,
    }
    return body


# One recorder per kind (tests/unit/test_message_kinds.py fails when a kind has none): the
# body the outbox shows, or a permanent failure for a send no phone could show.
RECORDERS: dict[Kind, Callable[[OutgoingMessage], dict[str, Any]]] = {
    Kind.TEXT: _needs("text"),
    Kind.IMAGE: _with_media,
    Kind.VIDEO: _with_media,
    Kind.AUDIO: _with_media,
    Kind.DOCUMENT: _with_media,
    Kind.STICKER: _with_media,
    Kind.LOCATION: _needs("latitude", "longitude"),
    Kind.CONTACT: _needs("contacts"),
    Kind.REACTION: _needs("message_id", "emoji"),
    Kind.POLL: _needs("question", "options"),
}


def recorded_body(message: OutgoingMessage) -> dict[str, Any]:
    try:
        record = RECORDERS[Kind(message.kind)]
    except ValueError:
        raise PermanentEngineError(f"unknown message kind {message.kind!r}") from None
    body = record(message)
    if message.reply_to:
        body["reply_to"] = message.reply_to
    if message.mentions:
        body["mentions"] = list(message.mentions)
    return body


def as_inbound(
    message: OutgoingMessage, message_id: str, sender: str, at: datetime
) -> InboundMessage:
    """A sent message as the other participants of its chat receive it."""
    body = message.body
    media = message.media
    return InboundMessage(
        message_id=message_id,
        chat=message.to_jid,
        sender=sender,
        from_me=False,
        timestamp=at,
        kind=message.kind,
        text=body.get("text"),
        caption=body.get("caption"),
        media=None if media is None else InboundMedia(media.data, media.mimetype, media.filename),
        location=_picked(body, "latitude", "longitude", "name", "address")
        if message.kind == Kind.LOCATION
        else None,
        contacts=body.get("contacts"),
        reaction=_picked(body, "message_id", "emoji") if message.kind == Kind.REACTION else None,
        poll=_picked(body, "question", "options", "selectable_count")
        if message.kind == Kind.POLL
        else None,
        reply_to=message.reply_to,
        view_once=bool(body.get("view_once")),
        mentions=message.mentions,
    )


def _picked(body: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: body[name] for name in names if body.get(name) is not None}


# What WhatsApp answers a number it rate limits or flags as spam (fail_kind: the code).
ABUSE_ANSWERS = {
    "rate_limited": "rate-overlimit: the number sends too much too fast",
    "spam_suspected": "the number is suspected of sending spam",
}


@dataclass
class Faults:
    send_latency_ms: int = 0
    fail_next: int = 0
    fail_kind: str = "transient"


class SimulatorEngine:
    name = "simulator"

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.faults: dict[int, Faults] = {}
        self.clients: dict[int, SimulatorClient] = {}
        # What each instance told the network, by instance id (simulator/presence.py).
        self.presence_sent: dict[int, list[tuple[str, datetime]]] = {}
        self.rejected_calls: dict[int, list[str]] = {}
        self.groups = GroupNetwork(db)
        # Only a cluster has members connected to other nodes (sharing this database).
        self.relay = (
            NoticeRelay(db, settings.node_id, self._hand_notice) if settings.redis_url else None
        )
        self._background: set[asyncio.Task[Any]] = set()
        # Concurrent sends of all instances share one INSERT: a row per send is the record of
        # what "the network" got, durable before send() returns, without a commit per message.
        self.record_sent: GroupCommit[dict[str, Any], None] = GroupCommit(self._insert_outbox)
        # The connections of all clients that come online, or go, at once share a transaction:
        # a node starting or stopping thousands of clients wrote one commit for each.
        self.open_connection: GroupCommit[int, int] = GroupCommit(self._open_connections)
        # What a client reads as it starts (its linked device, then its account), read for all
        # the clients that start together at once.
        self.read_device: GroupCommit[int, tuple[str, str] | None] = GroupCommit(self._read_devices)
        self.read_account: GroupCommit[int, AccountState] = GroupCommit(
            functools.partial(read_accounts, db)
        )
        self.close_connection: GroupCommit[int, None] = GroupCommit(self._close_connections)

    async def open(self) -> None:
        # Connections left open by a node that died are closed by whoever resumes them; a
        # restarted single node closes its own leftovers here.
        async with self.db.transaction() as session:
            await connections.close_node_connections(session, self.settings.node_id)
        # Notices are addressed to the nodes where members are connected: never to an API
        # node, which connects no instance. It writes notices (a group change made there) but
        # has none to read, and polling for them cost it a transaction five times a second.
        if self.relay is not None and self.settings.role == "all":
            self.relay.start()

    def _hand_notice(self, instance_id: int, event: GroupEvent) -> None:
        client = self.clients.get(instance_id)
        if client is not None and client.connected:
            client.sink(event)

    async def _insert_outbox(self, rows: list[dict[str, Any]]) -> list[None]:
        async with self.db.autocommit() as connection:
            await messages.insert_sent(connection, rows)
        return [None] * len(rows)

    async def _open_connections(self, instance_ids: list[int]) -> list[int]:
        """Each instance's new connection row (its id); a connection another node left open
        died with that node (it lost the instance) and is closed. This node's own rows are
        never closed here, so a double connection on one node stays visible to the tests that
        look for it."""
        async with self.db.transaction() as session:
            return await connections.open_many(session, instance_ids, self.settings.node_id)

    async def _read_devices(self, instance_ids: list[int]) -> list[tuple[str, str] | None]:
        """Each instance's linked device (JID, phone), or None when it is not linked."""
        async with self.db.session() as session:
            found = await connections.devices_of(session, instance_ids)
        return [found.get(i) for i in instance_ids]

    async def _close_connections(self, connection_ids: list[int]) -> list[None]:
        async with self.db.transaction() as session:
            await connections.close_many(session, connection_ids)
        return [None] * len(connection_ids)

    async def close(self) -> None:
        if self.relay is not None:
            await self.relay.close()
        await self.record_sent.drain()
        await self.open_connection.drain()
        await self.read_device.drain()
        await self.read_account.drain()
        await self.close_connection.drain()
        await stop_tasks(list(self._background), STOP_WAIT_S, "simulator background")

    def create_client(self, instance: InstanceRef, sink: EventSink) -> SimulatorClient:
        # The simulated network is in-process: a proxy (instance.proxy) has nothing to dial.
        return SimulatorClient(self, instance, sink)

    async def forget(self, instance: InstanceRef) -> None:
        async with self.db.transaction() as session:
            await connections.forget_device(session, instance.id)
        self.faults.pop(instance.id, None)

    async def health(self) -> EngineHealth:
        return EngineHealth(ok=True, extra={"clients": len(self.clients)})

    def faults_of(self, instance_id: int) -> Faults:
        return self.faults.setdefault(instance_id, Faults())

    def spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task


class SimulatorClient:
    def __init__(self, engine: SimulatorEngine, instance: InstanceRef, sink: EventSink) -> None:
        self.engine = engine
        self.instance = instance
        self.sink = sink
        self.pairing = False
        self.connected = False
        self.jid: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._link = asyncio.Event()
        self._link_phone: str | None = None
        self._pairing_started = asyncio.Event()
        self._connection_id: int | None = None
        self._stopped = False
        self._stop = asyncio.Event()
        # Messages sent within one receipt delay get their receipts together, as a phone
        # acknowledges several messages of a chat in one receipt: one receipt per chat and
        # status instead of one task and two receipts per message.
        self._unacknowledged: list[tuple[str, str]] = []
        self.edits = SimulatedEdits(self)
        self.account = SimulatedAccount(self)
        self.actions = ActionTable(
            "simulator",
            [
                handle(SEND, self.send),
                handle(CHECK_NUMBERS, self.check_numbers),
                handle(MARK_READ, self.mark_read),
                handle(CHAT_PRESENCE, self.presence),
                handle(FETCH_MEDIA, self.fetch_media),
                *edits_handlers(self),
                *self.account.handlers(),
                *groups_handlers(self),
            ],
        )

    async def call(self, action: Action[Req, Res], request: Req) -> Res:
        return await self.actions.run(action, request)

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"simulator:{self.instance.name}")

    async def _run(self) -> None:
        # stop() does not cancel this task while it talks to the database (a cancelled query
        # leaves a broken pooled connection behind): it sets `_stop`, and this checks it
        # after every step.
        settings = self.engine.settings
        device = await self.engine.read_device(self.instance.id)
        if self._stopped:
            return
        if device is not None:
            await self._go_online(*device)
            return
        self.pairing = True
        self._pairing_started.set()
        for _ in range(settings.simulator_qr_count):
            code = "2@" + ",".join(secrets.token_urlsafe(n) for n in (48, 32, 32))
            expires = utcnow() + timedelta(seconds=settings.simulator_qr_interval_s)
            self.sink(QrCode(code, expires))
            await self._wait_link_or_stop(settings.simulator_qr_interval_s)
            if self._link.is_set() or self._stopped:
                break
        self.pairing = False
        if self._stopped:
            return
        if not self._link.is_set():
            self.sink(QrTimeout())
            return
        phone = self._link_phone or random_phone()
        jid = f"{phone}@s.whatsapp.net"
        async with self.engine.db.transaction() as session:
            await connections.link_device(session, self.instance.id, jid, phone)
        if not self._stopped:
            await self._go_online(jid, phone)
        # Only a device just linked gets the phone's history (a resumed one had it).
        if self.connected and settings.simulator_history_chats:
            self.send_history(
                HistoryShape(
                    settings.simulator_history_chats,
                    settings.simulator_history_messages,
                    settings.simulator_history_days,
                )
            )

    async def _wait_link_or_stop(self, seconds: float) -> None:
        waiters = {
            asyncio.ensure_future(self._link.wait()),
            asyncio.ensure_future(self._stop.wait()),
        }
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    async def _go_online(self, jid: str, phone: str) -> None:
        # The connection's row and the account's state at once: each is a database round
        # trip that a takeover's reconnect waits for. Both finish before a failure is raised
        # (never a query cancelled half-way, never a row opened after stop() looked).
        opened, loaded = await asyncio.gather(
            self.engine.open_connection(self.instance.id),
            self.account.load(),
            return_exceptions=True,
        )
        if isinstance(opened, BaseException):
            raise opened
        self._connection_id = opened
        if isinstance(loaded, BaseException):
            raise loaded
        if self._stopped:
            return  # stop() closes the row once this task is over
        self.jid = jid
        self.connected = True
        self.engine.clients[self.instance.id] = self
        # A linked device's own JID, as WhatsApp gives one (user:device@server); the
        # instance id as device number keeps two instances of one phone apart.
        user, _, server = jid.partition("@")
        self.sink(Connected(jid, phone, f"{user}:{self.instance.id}@{server}"))

    async def stop(self) -> None:
        self._stopped = True
        self.connected = False
        self.pairing = False
        self._stop.set()
        task = self._task
        if task is not None and not task.done():
            # A run that failed is over too (wait_tasks logs its error).
            await wait_tasks([task], STOP_WAIT_S, f"simulator client {self.instance.name}")
        if self.engine.clients.get(self.instance.id) is self:
            del self.engine.clients[self.instance.id]
        await self._close_connection()

    async def _close_connection(self) -> None:
        if self._connection_id is None:
            return
        connection_id, self._connection_id = self._connection_id, None
        await self.engine.close_connection(connection_id)

    async def logout(self) -> None:
        self.connected = False
        await self.engine.forget(self.instance)

    # --- pairing -----------------------------------------------------------------------------

    async def _wait_pairing(self) -> None:
        # A client that was just started may not show its first QR yet; one that goes online
        # with a linked device, or is stopped meanwhile, never will: do not wait for it.
        task = self._task
        if not self._pairing_started.is_set() and task is not None and not self._stopped:
            waiter = asyncio.ensure_future(self._pairing_started.wait())
            try:
                await asyncio.wait({waiter, task}, timeout=5, return_when=asyncio.FIRST_COMPLETED)
            finally:
                waiter.cancel()
        if self._stopped or not self.pairing or self._link.is_set():
            raise NotPairingError("the instance is not waiting for a scan")

    async def scan(self, phone: str | None) -> None:
        """A phone scans the current QR code."""
        await self._wait_pairing()
        self._link_phone = phone
        self._link.set()

    async def pair_phone(self, phone: str) -> str:
        await self._wait_pairing()
        alphabet = "ABCDEFGHJKLMNPQRSTVWXYZ123456789"
        code = "".join(secrets.choice(alphabet) for _ in range(8))

        async def typed_on_phone() -> None:
            # The user types the code on the phone a moment later: the device links.
            await asyncio.sleep(self.engine.settings.simulator_pair_code_delay_s)
            if self.pairing and not self._stopped:
                self._link_phone = phone
                self._link.set()

        self.engine.spawn(typed_on_phone(), name=f"simulator-pair:{self.instance.name}")
        return f"{code[:4]}-{code[4:]}"

    # --- actions -----------------------------------------------------------------------------

    def require_connected(self) -> None:
        if not self.connected:
            raise NotConnectedError("the simulated connection is not open")

    async def send(self, message: OutgoingMessage) -> SendResult:
        self.require_connected()
        faults = self.engine.faults_of(self.instance.id)
        if faults.send_latency_ms:
            await asyncio.sleep(faults.send_latency_ms / 1000)
            self.require_connected()
        if faults.fail_next > 0:
            faults.fail_next -= 1
            if faults.fail_kind == "permanent":
                raise PermanentEngineError("the simulated network rejected the message")
            if faults.fail_kind in ABUSE_ANSWERS:
                raise PermanentEngineError(ABUSE_ANSWERS[faults.fail_kind], code=faults.fail_kind)
            raise TransientEngineError("simulated transient failure")
        user, _, server = message.to_jid.partition("@")
        if server == "s.whatsapp.net" and not on_whatsapp(user):
            raise PermanentEngineError("the recipient is not on WhatsApp", code="not_on_whatsapp")
        self.account.refuse_blocked(message.to_jid)
        members: set[str] = set()
        if server == "g.us" and self.jid is not None:
            members = await self.engine.groups.check_send(self.jid, message.to_jid, strict=False)
            if message.mention_everyone:
                everyone = (*message.mentions, *sorted(members))
                message = replace(message, mentions=tuple(dict.fromkeys(everyone)))
        body = recorded_body(message)
        message_id = new_message_id()
        sent_at = utcnow()
        await self.engine.record_sent(
            {
                "instance_id": self.instance.id,
                "message_id": message_id,
                "to": message.to_jid,
                "kind": message.kind,
                "body": body,
                "node": self.engine.settings.node_id,
                "sent_at": sent_at,
            }
        )
        if members and self.jid is not None:
            # The other participants' phones get it: those that are simulator instances.
            inbound = as_inbound(message, message_id, self.jid, sent_at)
            await deliver(self.engine, members, inbound)
        if not self._unacknowledged:
            self.engine.spawn(self._receipts(), name=f"receipts:{self.instance.name}")
        self._unacknowledged.append((message_id, message.to_jid))
        return SendResult(message_id, sent_at)

    async def _receipts(self) -> None:
        """After one delay, `delivered` for every message sent meanwhile; after another,
        `read`: one receipt per chat, with its messages in the order they were sent."""
        delay = self.engine.settings.simulator_receipt_delay_ms / 1000
        await asyncio.sleep(delay)
        sent, self._unacknowledged = self._unacknowledged, []
        by_chat: dict[str, list[str]] = {}
        for message_id, chat in sent:
            by_chat.setdefault(chat, []).append(message_id)
        for status in ("delivered", "read"):
            if status == "read":
                await asyncio.sleep(delay)
            if self._stopped:
                return
            for chat, message_ids in by_chat.items():
                if status == "delivered" or self.account.shows_read(chat):
                    self.sink(Receipt(tuple(message_ids), chat, status, utcnow()))

    async def check_numbers(self, request: CheckNumbersRequest) -> list[NumberCheck]:
        self.require_connected()
        results = []
        for phone in request.phones:
            digits = "".join(ch for ch in phone if ch.isdigit())
            found = on_whatsapp(digits)
            results.append(NumberCheck(phone, found, f"{digits}@s.whatsapp.net" if found else None))
        return results

    async def mark_read(self, request: ReadRequest) -> None:
        self.require_connected()

    async def presence(self, request: ChatPresenceRequest) -> None:
        self.require_connected()

    async def fetch_media(self, request: FetchMediaRequest) -> FetchedMedia:
        self.require_connected()
        return FetchedMedia(fetch_history_media(request.handle, utcnow()))

    # --- fault injection and the simulated other side ----------------------------------------

    async def inbound(self, message: InboundMessage) -> bool:
        """A contact's message arrives; WhatsApp drops a blocked contact's. Whether it was
        delivered."""
        self.require_connected()
        if message.sender in self.account.blocked:
            return False
        await self.edits.received(message)
        self.require_connected()
        self.sink(message)
        return True

    def send_history(self, shape: HistoryShape) -> list[str]:
        """The phone sends its history to this device, in parts; the ids of its messages."""
        self.require_connected()
        assert self.jid is not None
        batches = history_of(self.instance.id, self.jid, shape, utcnow())
        for batch in batches:
            self.sink(batch)
        return [m.message_id for b in batches for chat in b.chats for m in chat.messages]

    def drop_connection(self) -> None:
        self.require_connected()
        self.connected = False
        self.sink(ConnectionLost("connection dropped (simulated)"))

    async def unlink_from_phone(self) -> None:
        self.require_connected()
        self.connected = False
        await self.engine.forget(self.instance)
        self.sink(LoggedOut("device unlinked from the phone"))


async def outbox(db: Database, instance_id: int, limit: int = 1000) -> list[SimulatorOutbox]:
    async with db.session() as session:
        return await messages.outbox(session, instance_id, limit)
