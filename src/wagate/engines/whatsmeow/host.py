"""An engine host: `python -m wagate.engines.whatsmeow.host`, started by the gateway.

It runs whatsmeow clients (through neonize) for the gateway, which started it and speaks to
it over stdin/stdout (`protocol.py`). neonize can abort this process (NEONIZE.md §0); the
gateway restarts it and reconnects its instances, and nothing else is lost.

File descriptors: the real stdout is duplicated first and kept for the IPC channel only; fd 1
is then pointed at stderr, so Go's `fmt.Println` lines (and any stray print) land on stderr,
which the gateway reads line by line into its own log. Python logging writes JSON lines there.
"""

from __future__ import annotations

import os
import sys

# Before anything can print: keep the real stdout for frames, send fd 1 to stderr.
IPC_FD = os.dup(1)
os.dup2(2, 1)

import asyncio  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import signal  # noqa: E402
import time  # noqa: E402
from collections.abc import Coroutine  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from neonize._binder import ProxySettings  # noqa: E402

from wagate.engines.actions import ACTIONS, FETCH_MEDIA, SEND  # noqa: E402
from wagate.engines.base import NotConnectedError, OutgoingMessage  # noqa: E402
from wagate.engines.whatsmeow import handover  # noqa: E402
from wagate.engines.whatsmeow.actions import Actions  # noqa: E402
from wagate.engines.whatsmeow.gate import LifecycleGate  # noqa: E402
from wagate.engines.whatsmeow.protocol import (  # noqa: E402
    encode,
    error_to_wire,
    event_to_wire,
    outgoing_from_wire,
    read_frame,
)
from wagate.engines.whatsmeow.session import Session  # noqa: E402

log = logging.getLogger("wagate.whatsmeow.host")


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        instance_id = getattr(record, "instance_id", None)
        if instance_id is not None:
            entry["instance_id"] = instance_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str) -> None:
    # neonize attaches its own root handler at import (NEONIZE.md §11): replace it.
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines())
    numeric = getattr(logging, level.upper(), logging.WARNING)
    logging.basicConfig(level=numeric, handlers=[handler], force=True)
    # The Go log level is read from this logger at each connect: below WARNING, Go forwards
    # every DEBUG line over FFI.
    go_level = max(numeric, logging.WARNING)
    for name in ("neonize", "neonize.utils.log", "whatsmeow", "Whatsmeow"):
        logging.getLogger(name).setLevel(go_level)


class Host:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.connect_attempts = int(config.get("connect_attempts", 5))
        self.max_media_bytes = int(config.get("max_media_bytes", 64 * 1024 * 1024))
        self.call_timeout_s = float(config.get("call_timeout_s", 60.0))
        self.stop_wait_s = float(config.get("stop_wait_s", 5.0))
        folder = config.get("handover_dir")
        self.handover_dir = Path(folder) if folder else None
        self.sessions: dict[int, Session] = {}
        self.actions: dict[int, Actions] = {}
        self.gate = LifecycleGate()  # connect/stop alone; other Go calls together
        self._tasks: set[asyncio.Task[Any]] = set()
        self._writer: asyncio.StreamWriter | None = None
        # Events leave in order through one writer task, which may first move large inbound
        # media to a hand-over file (off the loop).
        self._events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._stopping = asyncio.Event()

    # --- used by sessions --------------------------------------------------------------------

    def proxy(self, own: str | None = None) -> Any:
        """The proxy of a connect: the instance's own, else the host's, else none."""
        address = own or self.config.get("proxy")
        if not address:
            return None
        return ProxySettings(proxy_address=str(address))

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def emit(self, instance_id: int, token: str, event: Any) -> None:
        self._events.put_nowait(
            {"event": event_to_wire(event), "instance": instance_id, "token": token}
        )

    async def _write_events(self) -> None:
        while True:
            frame = await self._events.get()
            try:
                await self._stage_media(frame["event"])
                self._send(frame)
            except Exception:  # one bad event must not silence every later one
                log.exception("an event could not be sent")
            finally:
                self._events.task_done()

    async def _stage_media(self, event: dict[str, Any]) -> None:
        media = event.get("media")
        if not isinstance(media, dict) or len(media.get("data") or b"") <= handover.INLINE_MAX:
            return
        try:
            if self.handover_dir is None:
                raise handover.HandoverRefused("no hand-over directory")
            await handover.media_to_file(media, self.handover_dir)
        except Exception as exc:
            # Never inline: a frame that large is what the hand-over exists to avoid.
            log.warning("inbound media hand-over failed: %s", exc)
            event["media"] = None

    async def _load_media(self, media: dict[str, Any]) -> None:
        if "file" in media and self.handover_dir is None:
            raise handover.HandoverRefused("this engine host has no hand-over directory")
        if self.handover_dir is not None:
            # Read only: the gateway wrote the file and removes it when the call ends.
            await handover.media_in(media, self.handover_dir, self.max_media_bytes, remove=False)

    async def _outgoing(self, wire: dict[str, Any]) -> OutgoingMessage:
        if isinstance(wire.get("media"), dict):
            await self._load_media(wire["media"])
        return outgoing_from_wire(wire)

    def _send(self, frame: dict[str, Any]) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(encode(frame))

    # --- requests ----------------------------------------------------------------------------

    def _session(self, instance_id: int) -> Session:
        session = self.sessions.get(instance_id)
        if session is None:
            session = self.sessions[instance_id] = Session(self, instance_id)
            self.actions[instance_id] = Actions(session, self.call_timeout_s)
        return session

    def _existing(self, params: dict[str, Any]) -> tuple[Session, Actions]:
        instance_id = int(params["instance_id"])
        if instance_id not in self.sessions:
            raise NotConnectedError("the instance has no client in this engine host")
        return self.sessions[instance_id], self.actions[instance_id]

    async def _call(self, method: str, params: dict[str, Any]) -> Any:
        if method == "ping":
            await asyncio.sleep(float(params.get("delay", 0)))
            if isinstance(params.get("media"), dict):  # checks the media channel end to end
                media = params["media"]
                await self._load_media(media)
                data = bytes(media["data"])
                digest = (await asyncio.to_thread(hashlib.sha256, data)).hexdigest()
                return {"pid": os.getpid(), "size": len(data), "sha256": digest}
            return {"pid": os.getpid()}
        if method == "status":
            return {str(i): s.describe() for i, s in self.sessions.items()}
        if method == "start":
            session = self._session(int(params["instance_id"]))
            await session.start(
                str(params["token"]),
                str(params["dsn"]),
                bool(params["shared"]),
                params.get("device"),
                params.get("proxy"),
            )
            return None
        if method == "stop":
            instance_id = int(params["instance_id"])
            if instance_id in self.sessions:
                await self.sessions[instance_id].stop(
                    params.get("token"), params.get("wait_s", self.stop_wait_s)
                )
            return None
        session, actions = self._existing(params)
        if method == "logout":
            return await actions.logout()
        if method == "pair_phone":
            return await session.pair_phone(str(params["phone"]))
        if method == "action":
            return await self._action(actions, str(params["name"]), params.get("request"))
        raise ValueError(f"unknown method {method!r}")

    async def _action(self, actions: Actions, name: str, data: Any) -> Any:
        """A declared engine action: its request typed back from the frame, its result made
        plain for the way back (wagate.engines.actions)."""
        action = ACTIONS.get(name)
        if action is None:
            raise ValueError(f"unknown engine action {name!r}")
        if action is SEND:
            result = await self._send_message(actions, data)
        else:
            result = await actions.table.run(action, action.load_request(data))
        dumped = action.dump_result(result)
        if action is FETCH_MEDIA and self.handover_dir is not None:
            # A download as large as a video crosses as a file, not in a frame.
            await handover.media_to_file(dumped, self.handover_dir)
        return dumped

    async def _send_message(self, actions: Actions, wire: dict[str, Any]) -> Any:
        return await actions.send(await self._outgoing(wire))

    async def _handle(self, frame: dict[str, Any]) -> None:
        request_id = frame.get("id")
        try:
            result = await self._call(str(frame.get("method")), dict(frame.get("params") or {}))
        except Exception as exc:
            if not isinstance(exc, ValueError | KeyError | TypeError) and not hasattr(exc, "code"):
                log.warning("%s failed: %s", frame.get("method"), exc)
            self._send({"id": request_id, "ok": False, "error": error_to_wire(exc)})
        else:
            self._send({"id": request_id, "ok": True, "result": result})

    # --- the process -------------------------------------------------------------------------

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        workers = int(self.config.get("instances_per_host", 50)) + 32
        # NEONIZE.md §0.3: every neonize call and each live session holds a pool thread.
        loop.set_default_executor(ThreadPoolExecutor(max_workers=workers))
        reader = asyncio.StreamReader(limit=2**20)
        await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(0, "rb", buffering=0)
        )
        transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, os.fdopen(IPC_FD, "wb", buffering=0)
        )
        self._writer = asyncio.StreamWriter(transport, protocol, None, loop)
        loop.add_signal_handler(signal.SIGTERM, self._stopping.set)
        self.spawn(self._write_events())
        self._send({"hello": {"pid": os.getpid(), "started": time.time()}})
        reading = loop.create_task(self._read(reader))
        stopping = loop.create_task(self._stopping.wait())
        await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
        await self.shutdown()

    async def _read(self, reader: asyncio.StreamReader) -> None:
        while (frame := await read_frame(reader)) is not None:
            self.spawn(self._handle(frame))

    async def shutdown(self) -> None:
        sessions = list(self.sessions.values())
        await asyncio.gather(
            *(s.stop(None, self.stop_wait_s) for s in sessions), return_exceptions=True
        )
        try:  # the stopped sessions' last events
            await asyncio.wait_for(self._events.join(), 1)
        except TimeoutError:
            log.debug("events left unsent at exit")
        if self._writer is not None:
            with_drain = self._writer.drain()
            try:
                await asyncio.wait_for(with_drain, 1)
            except Exception as exc:
                log.debug("drain at exit failed: %s", exc)


def main() -> None:
    # The gateway passes the config in the environment (it may hold a proxy password).
    config: dict[str, Any] = json.loads(os.environ.pop("WAGATE_WHATSMEOW_HOST_CONFIG", "") or "{}")
    configure_logging(str(config.get("log_level", "warning")))
    asyncio.run(Host(config).run())
    # A Go dial can keep a worker thread for ~60 s; do not wait for it at exit.
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
