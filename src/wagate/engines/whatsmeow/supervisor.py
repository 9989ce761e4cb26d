"""Engine hosts seen from the gateway: start them, talk to them, restart them when they die.

A host is a `python -m wagate.engines.whatsmeow.host` subprocess. Requests carry ids and
timeouts; a host that dies fails every call in flight with a transient error (the queue retries
it), is restarted on next use after a backoff, and its instances are told their connection was
lost (the client manager reconnects them).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog

from wagate import backoff
from wagate.config import Settings
from wagate.engines.base import EngineEvent, TransientEngineError
from wagate.engines.whatsmeow import handover
from wagate.engines.whatsmeow.protocol import (
    ProtocolError,
    encode,
    error_from_wire,
    event_from_wire,
    read_frame,
)
from wagate.tasks import stop_tasks

log = structlog.get_logger(__name__)

EventHandler = Callable[[int, str, EngineEvent], None]
ExitHandler = Callable[["EngineHost", str], None]
STABLE_AFTER_S = 60.0  # a host that lived this long resets its restart backoff
RESTART_BASE_DELAY_S = 0.5
CONFIG_ENV = "WAGATE_WHATSMEOW_HOST_CONFIG"
TASKS_STOP_S = 10.0  # the reader and watcher tasks of a host that has exited
LEVELS = {"debug": 10, "info": 20, "warning": 30, "error": 40, "critical": 50}


class HostUnavailable(TransientEngineError):
    pass


class EngineHost:
    """One engine-host process and its request/event channel."""

    def __init__(
        self,
        index: int,
        settings: Settings,
        on_event: EventHandler,
        on_exit: ExitHandler,
        handover_dir: Path | None = None,
    ) -> None:
        self.index = index
        # Where large media crosses to and from this host as files (handover.py); None: inline.
        self.handover_dir = handover_dir
        self.settings = settings
        self.on_event = on_event
        self.on_exit = on_exit
        self.process: asyncio.subprocess.Process | None = None
        self.pid: int | None = None
        self.started_at = 0.0
        self.alive = False
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._hello: asyncio.Future[dict[str, Any]] | None = None

    def _config(self) -> str:
        settings = self.settings
        return json.dumps(
            {
                "log_level": settings.log_level,
                "instances_per_host": settings.whatsmeow_instances_per_host,
                "connect_attempts": settings.whatsmeow_connect_attempts,
                "max_media_bytes": settings.max_media_bytes,
                "call_timeout_s": settings.whatsmeow_call_timeout_s,
                "proxy": settings.whatsmeow_proxy,
                "stop_wait_s": settings.whatsmeow_stop_wait_s,
                "handover_dir": str(self.handover_dir) if self.handover_dir else None,
            }
        )

    async def start(self) -> None:
        # The config travels in the environment: a proxy URL may hold a password, and argv is
        # visible to every user of the machine.
        env = {**os.environ, CONFIG_ENV: self._config()}
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "wagate.engines.whatsmeow.host",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            limit=2**20,
            start_new_session=True,  # a Ctrl+C on the gateway's terminal is the gateway's call
        )
        self.pid = self.process.pid
        self.started_at = time.monotonic()
        self._hello = asyncio.get_running_loop().create_future()
        self._tasks = [
            asyncio.create_task(self._read_frames(), name=f"engine-host-{self.index}-frames"),
            asyncio.create_task(self._read_output(), name=f"engine-host-{self.index}-output"),
        ]
        try:
            hello = await asyncio.wait_for(
                asyncio.shield(self._hello), self.settings.whatsmeow_host_start_timeout_s
            )
        except Exception as exc:
            await self.close(grace_s=0)
            raise HostUnavailable(f"engine host {self.index} did not start: {exc}") from exc
        self.alive = True
        log.info("engine host started", host=self.index, pid=hello.get("pid"))

    async def request(self, method: str, params: dict[str, Any], timeout_s: float) -> Any:
        if not self.alive or self.process is None or self.process.stdin is None:
            raise HostUnavailable(f"engine host {self.index} is not running")
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            self.process.stdin.write(encode({"id": request_id, "method": method, "params": params}))
            await self.process.stdin.drain()
            return await asyncio.wait_for(future, timeout_s)
        except TimeoutError as exc:
            raise TransientEngineError(f"{method}: the engine host did not answer in time") from exc
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise HostUnavailable(f"engine host {self.index} is gone") from exc
        finally:
            self._pending.pop(request_id, None)

    async def _read_frames(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        reason = "its channel closed"
        try:
            while (frame := await read_frame(self.process.stdout)) is not None:
                if "event" in frame:
                    await self._take_media(frame["event"])
                self._dispatch(frame)
        except ProtocolError as exc:
            reason = f"protocol error: {exc}"
        except Exception as exc:  # never let the reader die silently
            reason = f"reader failed: {exc}"
            log.exception("engine host reader failed", host=self.index)
        code = await self.process.wait()
        self._died(f"{reason}, exit code {code}")

    async def _take_media(self, event: dict[str, Any]) -> None:
        """Inbound media the host handed over as a file: read it (off the loop) and remove it.

        Awaited before the next frame is read, so events keep their order."""
        media = event.get("media")
        if not isinstance(media, dict) or "file" not in media:
            return
        try:
            if self.handover_dir is None:
                raise handover.HandoverRefused("this engine host has no hand-over directory")
            limit = self.settings.max_media_bytes
            await handover.media_in(media, self.handover_dir, limit, remove=True)
        except Exception as exc:
            # The message still arrives, announced without its media (as an oversized one is).
            log.warning("inbound media hand-over failed", host=self.index, error=str(exc))
            event["media"] = None

    def _dispatch(self, frame: dict[str, Any]) -> None:
        if "hello" in frame:
            if self._hello is not None and not self._hello.done():
                self._hello.set_result(frame["hello"])
            return
        if "event" in frame:
            try:
                event = event_from_wire(frame["event"])
            except Exception:
                log.exception("bad event from engine host", host=self.index)
                return
            self.on_event(int(frame["instance"]), str(frame["token"]), event)
            return
        future = self._pending.get(int(frame.get("id", 0)))
        if future is None or future.done():
            return  # answered after its caller gave up
        if frame.get("ok"):
            future.set_result(frame.get("result"))
        else:
            future.set_exception(error_from_wire(frame.get("error") or {}))

    async def _read_output(self) -> None:
        """The host's stderr: its JSON log lines, and Go's own prints and panics."""
        assert self.process is not None and self.process.stderr is not None
        while True:
            try:
                line = await self.process.stderr.readline()
            except ValueError:  # a line past the limit: skip it
                continue
            if not line:
                return
            text = line.decode("utf-8", "replace").rstrip()
            if not text:
                continue
            try:
                entry = json.loads(text)
                if not isinstance(entry, dict):
                    raise ValueError(text)
            except ValueError:
                log.warning("engine host output", host=self.index, line=text[:2000])
                continue
            level = LEVELS.get(str(entry.pop("level", "info")), 20)
            message = str(entry.pop("message", ""))
            fields = {"source": entry.pop("logger", None), **entry}
            log.log(level, message, host=self.index, **fields)

    def _died(self, reason: str) -> None:
        was_alive, self.alive = self.alive, False
        if self._hello is not None and not self._hello.done():
            self._hello.set_exception(HostUnavailable(reason))
        for future in self._pending.values():
            if not future.done():
                future.set_exception(HostUnavailable(f"engine host {self.index} died: {reason}"))
        self._pending.clear()
        if was_alive:
            log.warning("engine host died", host=self.index, pid=self.pid, reason=reason)
            self.on_exit(self, reason)

    async def close(self, grace_s: float | None = None) -> None:
        if grace_s is None:
            grace_s = self.settings.whatsmeow_stop_wait_s + 2
        process = self.process
        self.alive = False
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), grace_s)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        await stop_tasks(self._tasks, TASKS_STOP_S, "engine host tasks")
        self._died("closed")


class HostPool:
    """Places instances on hosts (at most `whatsmeow_instances_per_host` each) and restarts."""

    def __init__(self, settings: Settings, on_event: EventHandler, on_exit: ExitHandler) -> None:
        self.settings = settings
        self.on_event = on_event
        self.on_exit = on_exit
        self.hosts: dict[int, EngineHost] = {}
        self.handover = handover.Handover(settings.data_dir)
        self.placement: dict[int, int] = {}  # instance id -> host index
        self._crashes: dict[int, int] = {}
        self._not_before: dict[int, float] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self._place_lock = asyncio.Lock()
        self._closing = False

    def _index_for(self, instance_id: int) -> int:
        if instance_id in self.placement:
            return self.placement[instance_id]
        counts: dict[int, int] = {}
        for index in self.placement.values():
            counts[index] = counts.get(index, 0) + 1
        cap = max(1, self.settings.whatsmeow_instances_per_host)
        index = next(i for i in itertools.count() if counts.get(i, 0) < cap)
        self.placement[instance_id] = index
        return index

    async def host_for(self, instance_id: int) -> EngineHost:
        if self._closing:
            raise HostUnavailable("the engine is shutting down")
        async with self._place_lock:
            index = self._index_for(instance_id)
        async with self._locks.setdefault(index, asyncio.Lock()):
            host = self.hosts.get(index)
            if host is not None and host.alive:
                return host
            wait = self._not_before.get(index, 0.0) - time.monotonic()
            if wait > 0:  # restart backoff after a crash
                await asyncio.sleep(wait)
            if self._closing:
                raise HostUnavailable("the engine is shutting down")
            host = EngineHost(
                index,
                self.settings,
                self.on_event,
                self._exited,
                handover_dir=self.handover.host_dir(index),  # emptied: the last host's leftovers
            )
            self.hosts[index] = host
            try:
                await host.start()
            except HostUnavailable:
                self._backoff(index)
                raise
            return host

    def host_of(self, instance_id: int) -> EngineHost | None:
        index = self.placement.get(instance_id)
        return self.hosts.get(index) if index is not None else None

    def release(self, instance_id: int) -> None:
        self.placement.pop(instance_id, None)

    def _backoff(self, index: int) -> None:
        crashes = self._crashes.get(index, 0) + 1
        self._crashes[index] = crashes
        # No jitter: hosts are few, and each restarts on its own crash, not in a herd.
        delay = backoff.delay(
            crashes - 1, RESTART_BASE_DELAY_S, self.settings.whatsmeow_host_restart_max_delay_s
        )
        self._not_before[index] = time.monotonic() + delay

    def _exited(self, host: EngineHost, reason: str) -> None:
        if self._closing:
            return
        if time.monotonic() - host.started_at > STABLE_AFTER_S:
            self._crashes[host.index] = 0
        self._backoff(host.index)
        self.on_exit(host, reason)

    def instances_on(self, index: int) -> list[int]:
        return [i for i, h in self.placement.items() if h == index]

    async def close(self) -> None:
        self._closing = True
        await asyncio.gather(*(h.close() for h in self.hosts.values()), return_exceptions=True)
        self.hosts.clear()
        self.handover.close()
