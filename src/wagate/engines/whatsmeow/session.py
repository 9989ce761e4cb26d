"""One instance inside an engine host: its single neonize client and what it does.

NEONIZE.md rules kept here: one `NewAClient` per instance for the host's life (a dropped
object's finalizer would stop a newer session with the same uuid), every handler registered
before the first connect and wrapped, connect/stop alone behind the host's gate, no call
that can panic (get_me, get_pn_from_lid) unless the device is logged in, stop() after logout /
stream replaced / ban / outdated, a watchdog for the QR window, and a cap on consecutive failed
connects (each connect leaks a store handle).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from neonize.aioze.client import NewAClient
from neonize.aioze.events import (
    BlocklistEv,
    CallAcceptEv,
    CallOfferEv,
    CallTerminateEv,
    ChatPresenceEv,
    ClientOutdatedEv,
    ConnectedEv,
    ConnectFailureEv,
    DisconnectedEv,
    GroupInfoEv,
    HistorySyncEv,
    JoinedGroupEv,
    KeepAliveTimeoutEv,
    LoggedOutEv,
    MessageEv,
    PairStatusEv,
    PictureEv,
    PresenceEv,
    ReceiptEv,
    StreamErrorEv,
    StreamReplacedEv,
    TemporaryBanEv,
)

from wagate.engines.base import (
    Connected,
    ConnectFailed,
    ConnectionLost,
    EngineEvent,
    IncomingCall,
    LoggedOut,
    NotConnectedError,
    NotPairingError,
    QrCode,
    QrTimeout,
    StreamReplaced,
    TransientEngineError,
)
from wagate.engines.whatsmeow import group_mapping, history, mapping
from wagate.engines.whatsmeow.builders import Quote
from wagate.engines.whatsmeow.jids import device_string, jid_string, parse_jid

if TYPE_CHECKING:
    from wagate.engines.whatsmeow.host import Host

log = logging.getLogger("wagate.whatsmeow.session")

FIRST_QR_TTL_S = 60.0  # whatsmeow: the first code lives 60 s, the next five 20 s each
NEXT_QR_TTL_S = 20.0
QR_GRACE_S = 10.0
QR_CODES = 6  # as whatsmeow rotates them (and as the simulator does): then qr_timeout
PAIR_WAIT_S = 30.0
CONNECT_SETTLE_S = 0.5
RECENT_MESSAGES = 500
KNOWN_PUSH_NAMES = 5000
RINGING_CALLS = 100  # a call whose end never came is forgotten past this many


class Session:
    def __init__(self, host: Host, instance_id: int) -> None:
        self.host = host
        self.instance_id = instance_id
        self.client: Any = None
        self.token: str | None = None
        self.state = "idle"  # idle | connecting | pairing | connected | stopped
        self.failures = 0
        self.qr_count = 0
        self.pair_phone_number: str | None = None
        self.pair_code: asyncio.Future[str] | None = None
        self.me: str | None = None
        self.proxy: str | None = None  # this instance's own, from the gateway's start
        self.recent: OrderedDict[str, Quote] = OrderedDict()
        # Calls ringing on this connection, by id: a reject needs the caller as offered.
        self.ringing: dict[str, IncomingCall] = {}
        self.push_names: OrderedDict[str, str] = OrderedDict()
        self._watchdog: asyncio.Task[None] | None = None
        self._stopping: asyncio.Task[None] | None = None
        self._extra = {"instance_id": instance_id}

    # --- events to the gateway ---------------------------------------------------------------

    def emit(self, event: EngineEvent, token: str | None = None) -> None:
        token = token or self.token
        if token is not None:
            self.host.emit(self.instance_id, token, event)

    # --- lifecycle ---------------------------------------------------------------------------

    def _make_client(self, dsn: str) -> Any:
        client = NewAClient(dsn, uuid=f"wagate-{self.instance_id}")
        client.event.qr(self._guard(self._on_qr))
        handlers: dict[Any, Callable[[Any, Any], Awaitable[None]]] = {
            PairStatusEv: self._on_pair_status,
            ConnectedEv: self._on_connected,
            DisconnectedEv: self._on_disconnected,
            LoggedOutEv: self._on_logged_out,
            StreamReplacedEv: self._on_stream_replaced,
            TemporaryBanEv: self._on_temporary_ban,
            ClientOutdatedEv: self._on_client_outdated,
            ConnectFailureEv: self._on_connect_failure,
            StreamErrorEv: self._on_note,
            KeepAliveTimeoutEv: self._on_note,
            MessageEv: self._on_message,
            ReceiptEv: self._on_receipt,
            CallOfferEv: self._on_call,
            GroupInfoEv: self._on_group_info,
            JoinedGroupEv: self._on_joined_group,
            PictureEv: self._on_picture,
            CallAcceptEv: self._on_call_accept,
            CallTerminateEv: self._on_call_terminate,
            PresenceEv: self._on_presence,
            ChatPresenceEv: self._on_chat_presence,
            BlocklistEv: self._on_blocklist,
            HistorySyncEv: self._on_history,
        }
        for event_type, handler in handlers.items():
            client.event(event_type)(self._guard(handler))
        return client

    def _guard(
        self, handler: Callable[[Any, Any], Awaitable[None]]
    ) -> Callable[[Any, Any], Awaitable[None]]:
        # neonize drops exceptions of async handlers without a word.
        async def guarded(client: Any, event: Any) -> None:
            try:
                await handler(client, event)
            except Exception:
                log.exception("handler %s failed", handler.__name__, extra=self._extra)

        return guarded

    async def start(
        self, token: str, dsn: str, shared: bool, device: str | None, proxy: str | None = None
    ) -> None:
        previous = self._stopping
        self.token = token
        self.proxy = proxy
        self.state = "connecting"
        self.qr_count = 0
        self.me = None
        self._cancel_watchdog()
        self.host.spawn(self._connect(token, dsn, shared, device, previous))

    async def _connect(
        self,
        token: str,
        dsn: str,
        shared: bool,
        device: str | None,
        previous_stop: asyncio.Task[None] | None,
    ) -> None:
        try:
            if previous_stop is not None:
                await asyncio.shield(previous_stop)
            async with self.host.gate.exclusive():
                if self.token != token:
                    return  # stopped (or restarted) before it got its turn
                if self.client is None:
                    self.client = self._make_client(dsn)
                self.client.name = dsn
                self.client.jid, self.client.new_device = None, False
                if shared:
                    # A shared store: resume this instance's own device, or pair a new one;
                    # never whatsmeow's GetFirstDevice, which would pick another's session.
                    self.client.jid = parse_jid(device) if device else None
                    self.client.new_device = device is None
                task = await self.client.connect(self.host.proxy(self.proxy))
                # connect() returns at once; Go registers the client from its worker thread a
                # moment later, and that write must not meet another call.
                await asyncio.wait({task}, timeout=CONNECT_SETTLE_S)
            await task
        except Exception as exc:
            if self.token == token and self.state != "stopped":
                self._connect_failed(token, str(exc) or type(exc).__name__)

    def _connect_failed(self, token: str, reason: str) -> None:
        self.failures += 1
        self.state = "connecting"
        log.warning(
            "connect failed (%d/%d): %s",
            self.failures,
            self.host.connect_attempts,
            reason,
            extra=self._extra,
        )
        if self.failures >= self.host.connect_attempts:
            self.failures = 0  # the next connect the user asks for gets its attempts again
            self.emit(ConnectFailed(reason=reason, permanent=True), token)
        else:
            self.emit(ConnectionLost(reason=reason), token)

    async def stop(self, token: str | None, wait_s: float) -> None:
        if token is not None and token != self.token:
            return
        self.token = None
        self.state = "stopped"
        self._cancel_watchdog()
        if self.pair_code is not None and not self.pair_code.done():
            self.pair_code.set_exception(NotPairingError("the client was stopped"))
        if self.client is None:
            return
        if self._stopping is None or self._stopping.done():
            self._stopping = self.host.spawn(self._stop_client())
        # A stop waits out a hanging dial (~60 s); the caller only waits a little.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._stopping), wait_s)

    async def _stop_client(self) -> None:
        task = self.client.connect_task  # this session's; a later connect waits for us
        try:
            async with self.host.gate.exclusive():
                await self.client.stop()
        except Exception:
            log.exception("stop failed", extra=self._extra)
        if task is not None:
            await asyncio.gather(task, return_exceptions=True)

    def _stop_soon(self) -> None:
        self.host.spawn(self.stop(None, 0))

    # --- pairing -----------------------------------------------------------------------------

    def _arm_watchdog(self, ttl: float) -> None:
        self._cancel_watchdog()
        token = self.token

        async def expire() -> None:
            await asyncio.sleep(ttl + QR_GRACE_S)
            if self.token == token and self.state == "pairing":
                self.emit(QrTimeout(), token)
                await self.stop(token, 0)

        self._watchdog = self.host.spawn(expire())

    def _cancel_watchdog(self) -> None:
        if self._watchdog is not None and self._watchdog is not asyncio.current_task():
            self._watchdog.cancel()
        self._watchdog = None

    async def _on_qr(self, client: Any, data: Any) -> None:
        if self.token is None:
            return
        self.state = "pairing"
        self.qr_count += 1
        if self.qr_count > QR_CODES:  # the window is over, whatever whatsmeow does next
            self.emit(QrTimeout())
            await self.stop(self.token, 0)
            return
        ttl = FIRST_QR_TTL_S if self.qr_count == 1 else NEXT_QR_TTL_S
        code = data.decode() if isinstance(data, bytes) else str(data)
        self.emit(QrCode(code=code, expires_at=datetime.now(UTC) + timedelta(seconds=ttl)))
        self._arm_watchdog(ttl)
        if self.pair_phone_number and self.pair_code is not None and not self.pair_code.done():
            await self._request_pair_code()

    async def _request_pair_code(self) -> None:
        assert self.pair_code is not None and self.pair_phone_number is not None
        phone, self.pair_phone_number = self.pair_phone_number, None
        try:
            async with self.host.gate.shared():
                code = await self.client.PairPhone(phone, True)
        except Exception as exc:
            if not self.pair_code.done():
                self.pair_code.set_exception(TransientEngineError(f"pair phone failed: {exc}"))
            return
        if not self.pair_code.done():
            self.pair_code.set_result(str(code))

    async def pair_phone(self, phone: str) -> str:
        if self.state not in ("connecting", "pairing"):
            raise NotPairingError("the instance is not waiting for a link")
        self.pair_code = asyncio.get_running_loop().create_future()
        self.pair_phone_number = phone
        if self.state == "pairing":  # a QR is already up: the websocket is connected
            await self._request_pair_code()
        try:
            return await asyncio.wait_for(asyncio.shield(self.pair_code), PAIR_WAIT_S)
        except TimeoutError as exc:
            raise NotPairingError("the client never reached the pairing step") from exc
        finally:
            self.pair_phone_number = None

    # --- connection events -------------------------------------------------------------------

    async def _on_pair_status(self, client: Any, event: Any) -> None:
        if int(event.Status) == 2:  # SUCCESS: ConnectedEv follows
            self._cancel_watchdog()
            return
        self.emit(ConnectionLost(reason=f"pairing failed: {event.Error or 'unknown error'}"))

    async def _on_connected(self, client: Any, event: Any) -> None:
        if self.token is None:
            return
        self._cancel_watchdog()
        self.failures = 0
        self.state = "connected"
        async with self.host.gate.shared():
            if not await client.is_logged_in:
                return  # get_me would abort the process on an unlinked client
            me = await client.get_me()
        self.me = jid_string(me.JID)
        device = device_string(me.JID) if me.JID.Device else None
        self.emit(Connected(jid=self.me, phone=str(me.JID.User) or None, device=device))

    async def _on_disconnected(self, client: Any, event: Any) -> None:
        if self.state == "connected":
            self.state = "connecting"
            self.emit(ConnectionLost(reason="disconnected from WhatsApp"))

    async def _final(self, event: EngineEvent) -> None:
        self.emit(event)
        self._stop_soon()

    async def _on_logged_out(self, client: Any, event: Any) -> None:
        await self._final(mapping.logged_out(event))

    async def _on_stream_replaced(self, client: Any, event: Any) -> None:
        await self._final(StreamReplaced())

    async def _on_temporary_ban(self, client: Any, event: Any) -> None:
        await self._final(mapping.temporary_ban(event))

    async def _on_client_outdated(self, client: Any, event: Any) -> None:
        await self._final(ConnectFailed(reason="client_outdated: upgrade neonize", permanent=True))

    async def _on_connect_failure(self, client: Any, event: Any) -> None:
        mapped = mapping.connect_failure(int(event.Reason), str(event.Message))
        final = isinstance(mapped, ConnectFailed) and mapped.permanent
        if isinstance(mapped, LoggedOut) or final:
            await self._final(mapped)
        else:
            self.emit(mapped)

    async def _on_note(self, client: Any, event: Any) -> None:
        log.info("%s", type(event).__name__, extra=self._extra)

    # --- inbound -----------------------------------------------------------------------------

    async def _resolve_lid(self, jid: Any) -> Any | None:
        if self.state != "connected":
            return None
        try:
            async with self.host.gate.shared():
                if not await self.client.is_logged_in:
                    return None  # get_pn_from_lid aborts the process on an unlinked client
                return await self.client.get_pn_from_lid(jid)
        except Exception:
            return None

    async def _download(self, message: Any) -> bytes | None:
        try:
            async with self.host.gate.shared():
                data = await asyncio.wait_for(self.client.download_any(message), 120)
        except Exception as exc:
            log.warning("media download failed: %s", exc, extra=self._extra)
            return None
        return bytes(data) if data is not None else None

    def remember(self, quote: Quote) -> None:
        self.recent[quote.message_id] = quote
        self.recent.move_to_end(quote.message_id)
        while len(self.recent) > RECENT_MESSAGES:
            self.recent.popitem(last=False)

    async def _on_message(self, client: Any, event: Any) -> None:
        if self.token is None:
            return
        started = time.monotonic()
        inbound = await mapping.inbound_message(
            event, self._resolve_lid, self._download, self.host.max_media_bytes
        )
        if inbound is None:
            await self._on_change(event)
            return
        if not inbound.from_me:
            self.remember(Quote(inbound.message_id, inbound.sender, event.Message))
            self._push_name(event)
        self.emit(inbound)
        log.debug("message mapped in %.3f s", time.monotonic() - started)

    async def _on_change(self, event: Any) -> None:
        """An edit, a revoke or a poll vote (decrypted with the poll's options, which the
        device knows when it saw the poll recently)."""
        change = await mapping.message_change(event, self._resolve_lid)
        if change is not None:
            self.emit(change)
            return
        poll_id = mapping.poll_key(event)
        if poll_id is None or self.client is None:
            return
        poll = self.recent.get(poll_id)
        options = mapping.poll_options(poll.message) if poll and poll.message else []
        try:
            async with self.host.gate.shared():
                vote = await asyncio.wait_for(self.client.decrypt_poll_vote(event), 30)
        except Exception as exc:
            log.warning("poll vote not decrypted: %s", exc, extra=self._extra)
            return
        self.emit(await mapping.poll_vote(event, self._resolve_lid, vote.selectedOptions, options))

    async def _on_history(self, client: Any, event: Any) -> None:
        """The phone's history after linking: handed over in parts (the gateway imports them
        in the background, per the instance's history_sync setting)."""
        if self.token is None:
            return
        for batch in await history.history_batches(event.Data, self.me or ""):
            self.emit(batch)

    async def _on_receipt(self, client: Any, event: Any) -> None:
        mapped = mapping.receipt(event)
        if mapped is not None:
            self.emit(mapped)

    async def _on_call(self, client: Any, event: Any) -> None:
        call = mapping.incoming_call(event)
        self.ringing[call.call_id] = call
        while len(self.ringing) > RINGING_CALLS:
            self.ringing.pop(next(iter(self.ringing)))
        self.emit(call)

    async def _on_call_accept(self, client: Any, event: Any) -> None:
        ringing = self.ringing.pop(str(event.basicCallMeta.callID), None)
        if (call := mapping.call_update(event, ringing, "accepted")) is not None:
            self.emit(call)

    async def _on_call_terminate(self, client: Any, event: Any) -> None:
        ringing = self.ringing.pop(str(event.basicCallMeta.callID), None)
        if (call := mapping.call_update(event, ringing, "missed")) is not None:
            self.emit(call)

    async def _on_presence(self, client: Any, event: Any) -> None:
        self.emit(mapping.presence(event))

    async def _on_chat_presence(self, client: Any, event: Any) -> None:
        if (update := mapping.chat_presence(event)) is not None:
            self.emit(update)

    async def _on_blocklist(self, client: Any, event: Any) -> None:
        for change in mapping.blocklist_changes(event):
            self.emit(change)

    def _push_name(self, event: Any) -> None:
        update = mapping.push_name_change(event, self.push_names)
        while len(self.push_names) > KNOWN_PUSH_NAMES:
            self.push_names.popitem(last=False)
        if update is not None:
            self.emit(update)

    async def _on_group_info(self, client: Any, event: Any) -> None:
        if self.token is None:
            return
        for mapped in await group_mapping.group_info_event(event, self._resolve_lid):
            self.emit(mapped)

    async def _on_joined_group(self, client: Any, event: Any) -> None:
        if self.token is None:
            return
        mapped = await group_mapping.joined_group(event, self.me, self._resolve_lid)
        if mapped is not None:
            self.emit(mapped)

    async def _on_picture(self, client: Any, event: Any) -> None:
        """A picture changed: a group's (a group update) or a contact's (a contact update)."""
        if self.token is None:
            return
        mapped = await group_mapping.picture(event, self._resolve_lid)
        if mapped is None:
            mapped = mapping.picture_change(event)
        if mapped is not None:
            self.emit(mapped)

    def describe(self) -> dict[str, Any]:
        """For health and tests: the state, and which stored device the last connect used."""
        client = self.client
        device = None
        if client is not None and client.jid is not None:
            device = f"{client.jid.User}:{client.jid.Device}@{client.jid.Server}"
        new_device = bool(client.new_device) if client is not None else None
        return {"state": self.state, "device": device, "new_device": new_device}

    def require_connected(self) -> Any:
        if self.state != "connected" or self.client is None:
            raise NotConnectedError("the WhatsApp connection is not open")
        return self.client
