"""One `wagate serve` as two processes: the API in the process started, the instances and
their senders in a child it supervises.

With Redis, a node serving the API only (`role=api`) beside a node holding the instances is
the cluster's own split (docs/cluster.md): the senders, their receipts and events then do not
share the event loop that answers requests. `WAGATE_WORKER_PROCESS` makes one command run
both on this machine: the child is `wagate serve` again on a loopback port of its own, a
second node of the same cluster (same database, Redis and data directory), and the parent
forwards to it what must run on the holder, as it would to any node. The child is restarted
when it dies (its instances are taken again once their leases lapse) and stopped after the
parent stopped serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal
import socket
import sys

import structlog

from wagate.config import Settings

log = structlog.get_logger(__name__)

RESTART_DELAY_S = 1.0
PR_SET_PDEATHSIG = 1


def wanted(settings: Settings) -> bool:
    """A child runs only where the split exists: with Redis, on a node that holds instances."""
    return settings.worker_process and bool(settings.redis_url) and settings.role == "all"


def split(settings: Settings) -> WorkerProcess | None:
    """The child of this `wagate serve` when it runs one, and these settings made the API
    node's (the parent holds no instance)."""
    if not wanted(settings):
        return None
    if not settings.media_store:
        # Both keep received media in this data directory: one store, which either serves
        # (the cluster's warning about a store per node does not apply).
        settings.media_store = str((settings.data_dir / "media").resolve())
    worker = WorkerProcess(settings)
    settings.role = "api"
    return worker


def _free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def _die_with_parent() -> None:
    """In the child before it runs: a parent killed outright (SIGKILL) takes it along."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class WorkerProcess:
    """The child node holding the instances, restarted while the parent serves."""

    def __init__(self, settings: Settings, stop_timeout_s: float = 60.0) -> None:
        self.settings = settings
        self.node_id = f"{settings.node_id}-worker"
        self.stop_timeout_s = stop_timeout_s
        self.stopping = False
        self._process: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None

    def environment(self, port: int) -> dict[str, str]:
        """The parent's environment, as the child's node: holds instances, listens on
        loopback, and starts no child of its own."""
        host = "127.0.0.1"
        return {
            **os.environ,
            "WAGATE_ROLE": "all",
            "WAGATE_NODE_ID": self.node_id,
            "WAGATE_HOST": host,
            "WAGATE_PORT": str(port),
            "WAGATE_INTERNAL_URL": f"http://{host}:{port}",
            "WAGATE_WORKER_PROCESS": "false",
            **(
                {"WAGATE_MEDIA_STORE": self.settings.media_store}
                if self.settings.media_store
                else {}
            ),
        }

    async def start(self) -> None:
        await self._spawn()
        self._task = asyncio.create_task(self._supervise(), name="worker-process")

    async def _spawn(self) -> None:
        port = _free_port("127.0.0.1")
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "wagate",
            "serve",
            env=self.environment(port),
            preexec_fn=_die_with_parent,
        )
        log.info("worker process started", node=self.node_id, pid=self._process.pid, port=port)

    async def _supervise(self) -> None:
        while True:
            assert self._process is not None
            code = await self._process.wait()
            if self.stopping:
                return
            log.warning("worker process exited; starting it again", node=self.node_id, code=code)
            await asyncio.sleep(RESTART_DELAY_S)
            if self.stopping:
                return
            await self._spawn()

    async def stop(self) -> None:
        """After the parent stopped serving: the child stops as a node does on SIGTERM (its
        sends in hand finish, its leases are given up), killed if it overruns."""
        self.stopping = True
        process = self._process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(process.wait(), self.stop_timeout_s)
            except TimeoutError:
                log.warning("worker process did not stop in time; killed", node=self.node_id)
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
