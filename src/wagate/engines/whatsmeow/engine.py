"""The whatsmeow engine as the gateway sees it: thin proxies to clients in engine hosts.

Nothing here imports neonize: the Go core lives only in the host processes, so an abort there
never takes the API down.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from typing import Any, TypeVar, cast

import structlog

from wagate.config import Settings
from wagate.db import Database
from wagate.engines import link_preview
from wagate.engines.actions import FETCH_MEDIA, SEND, Action, FetchedMedia, FetchMediaRequest
from wagate.engines.base import (
    ConnectionLost,
    EngineEvent,
    EngineHealth,
    EventSink,
    InstanceRef,
    NotConnectedError,
    OutgoingMessage,
    SendResult,
)
from wagate.engines.whatsmeow import handover
from wagate.engines.whatsmeow.store import device_store, forget_device, stored_device
from wagate.engines.whatsmeow.supervisor import EngineHost, HostPool
from wagate.tasks import stop_tasks

log = structlog.get_logger(__name__)

CONTROL_TIMEOUT_S = 15.0
BACKGROUND_STOP_S = 10.0
Req = TypeVar("Req")
Res = TypeVar("Res")


class WhatsmeowEngine:
    name = "whatsmeow"

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.clients: dict[int, WhatsmeowClient] = {}
        self.pool = HostPool(settings, self._on_event, self._on_host_exit)
        self._background: set[asyncio.Task[Any]] = set()

    async def open(self) -> None:
        """Hosts start on first use: a node without whatsmeow instances runs none.

        The hand-over directory is set up now, which removes what a dead process left there."""
        await asyncio.to_thread(self.pool.handover.ensure)

    async def close(self) -> None:
        await self.pool.close()
        await stop_tasks(list(self._background), BACKGROUND_STOP_S, "whatsmeow background")

    def create_client(self, instance: InstanceRef, sink: EventSink) -> WhatsmeowClient:
        return WhatsmeowClient(self, instance, sink)

    async def forget(self, instance: InstanceRef) -> None:
        await forget_device(self.settings, self.db, instance)

    async def health(self) -> EngineHealth:
        hosts = {
            str(index): {"pid": host.pid, "alive": host.alive, "instances": len(ids)}
            for index, host in self.pool.hosts.items()
            for ids in [self.pool.instances_on(index)]
        }
        dead = [index for index, info in hosts.items() if not info["alive"] and info["instances"]]
        detail = f"engine hosts down: {', '.join(dead)}" if dead else "ok"
        return EngineHealth(ok=not dead, detail=detail, extra={"hosts": hosts})

    def spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    # --- from the hosts ----------------------------------------------------------------------

    def _on_event(self, instance_id: int, token: str, event: EngineEvent) -> None:
        client = self.clients.get(instance_id)
        if client is None or client.token != token or client.stopped:
            return  # a stopped or replaced client's last words
        client.sink(event)

    def _on_host_exit(self, host: EngineHost, reason: str) -> None:
        for instance_id in self.pool.instances_on(host.index):
            client = self.clients.get(instance_id)
            if client is not None and not client.stopped:
                client.sink(ConnectionLost(reason=f"engine host died ({reason})"))


class WhatsmeowClient:
    def __init__(self, engine: WhatsmeowEngine, instance: InstanceRef, sink: EventSink) -> None:
        self.engine = engine
        self.instance = instance
        self.sink = sink
        self.token = uuid.uuid4().hex
        self.stopped = False
        self._host: EngineHost | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        self.engine.clients[self.instance.id] = self
        # Placing the instance may wait for a host to (re)start: never make the caller wait.
        self.engine.spawn(self._start(), name=f"whatsmeow-start:{self.instance.name}")

    async def _start(self) -> None:
        store = device_store(self.engine.settings, self.instance)
        try:
            device = await stored_device(self.engine.db, self.instance) if store.shared else None
            params = {
                "instance_id": self.instance.id,
                "token": self.token,
                "dsn": store.dsn,
                "shared": store.shared,
                "device": device,
                # The instance's own proxy wins over the host's (WAGATE_WHATSMEOW_PROXY). It
                # crosses in the request frame, never in argv or the environment.
                "proxy": self.instance.proxy,
            }
            host = await self.engine.pool.host_for(self.instance.id)
            if self.stopped:
                return
            # Set only now: a pair_phone waiting for the host must reach it after "start".
            self._host = host
            await host.request("start", params, CONTROL_TIMEOUT_S)
        except Exception as exc:
            if not self.stopped:
                log.warning("whatsmeow start failed", instance=self.instance.name, error=str(exc))
                self.sink(ConnectionLost(reason=f"engine host unavailable: {exc}"))

    async def stop(self) -> None:
        self.stopped = True
        if self.engine.clients.get(self.instance.id) is self:
            del self.engine.clients[self.instance.id]
            self.engine.pool.release(self.instance.id)
        host = self._host
        wait_s = self.engine.settings.whatsmeow_stop_wait_s
        if host is not None and host.alive:
            try:
                await host.request(
                    "stop",
                    {"instance_id": self.instance.id, "token": self.token, "wait_s": wait_s},
                    wait_s + CONTROL_TIMEOUT_S,
                )
            except Exception as exc:
                log.warning("whatsmeow stop failed", instance=self.instance.name, error=str(exc))

    async def _call(
        self,
        method: str,
        params: dict[str, Any],
        timeout_s: float,
        host: EngineHost | None = None,
    ) -> Any:
        host = host or self._host
        if self.stopped or host is None:
            raise NotConnectedError(f"instance '{self.instance.name}' has no live client")
        if not host.alive:
            # Its host died: until the manager's reconnect places it again, the client is not
            # connected (409 for a route). A call in flight when the host dies fails as the
            # engine's error instead (HostUnavailable, 502).
            raise NotConnectedError(f"instance '{self.instance.name}' is not connected")
        return await host.request(method, {"instance_id": self.instance.id, **params}, timeout_s)

    @property
    def _timeout(self) -> float:
        return self.engine.settings.whatsmeow_call_timeout_s + 5

    async def logout(self) -> None:
        await self._call("logout", {}, self._timeout + self.engine.settings.whatsmeow_stop_wait_s)

    async def pair_phone(self, phone: str) -> str:
        if self._host is None:  # the host may still be starting
            for _ in range(int(self.engine.settings.whatsmeow_host_start_timeout_s * 10)):
                if self._host is not None or self.stopped:
                    break
                await asyncio.sleep(0.1)
        return str(await self._call("pair_phone", {"phone": phone}, 45.0))

    # --- actions -----------------------------------------------------------------------------

    async def call(self, action: Action[Req, Res], request: Req) -> Res:
        """Every action runs in the engine host, named by its declaration and with its typed
        request; a send also carries its media across by hand-over file."""
        if action is SEND:
            return cast(Res, await self._send(cast(OutgoingMessage, request)))
        if action is FETCH_MEDIA:
            return cast(Res, await self._fetch_media(cast(FetchMediaRequest, request)))
        params = {"name": action.name, "request": action.dump_request(request)}
        return action.load_result(await self._call("action", params, self._timeout))

    async def _fetch_media(self, request: FetchMediaRequest) -> FetchedMedia:
        """A download: large media comes back as a hand-over file (as inbound media does),
        read and removed here."""
        host = self._host
        params = {"name": FETCH_MEDIA.name, "request": FETCH_MEDIA.dump_request(request)}
        result = await self._call("action", params, self._timeout * 3, host)
        if isinstance(result, dict) and "file" in result:
            directory = host.handover_dir if host is not None else None
            if directory is None:
                raise handover.HandoverRefused("this engine host has no hand-over directory")
            limit = self.engine.settings.max_media_bytes
            await handover.media_in(result, directory, limit, remove=True)
        return FETCH_MEDIA.load_result(result)

    async def _send(self, message: OutgoingMessage) -> SendResult:
        if message.kind == "text" and message.body.get("link_preview"):
            message = await self._with_preview(message)
        host = self._host  # one host for the call: the media file goes to its directory
        wire = SEND.dump_request(message)
        directory = host.handover_dir if host is not None else None
        # Large media crosses as a file, removed when the call ends, however it ends.
        async with handover.media_out(directory, wire.get("media")) as media:
            wire["media"] = media
            # Building media (upload, ffmpeg) and sending are bounded separately in the host.
            params = {"name": SEND.name, "request": wire}
            result = await self._call("action", params, self._timeout * 3, host)
        return SEND.load_result(result)

    async def _with_preview(self, message: OutgoingMessage) -> OutgoingMessage:
        """The text's link preview, fetched here in the gateway (its SSRF guard and settings),
        at send time on the worker's side, never in the HTTP request. The host only builds it
        into the message. No preview: the text goes without one."""
        if self.stopped or self._host is None:
            return message  # the host will refuse the send: fetch nothing
        text = str(message.body.get("text") or "")
        preview = await link_preview.build(text, self.engine.settings, proxy=self.instance.proxy)
        if preview is None:
            return message
        return dataclasses.replace(message, body={**message.body, "preview": preview.to_body()})
