"""The `wagate` command: `serve`, `migrate`, `admin-token`, `secret-key` and `mcp`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import sys
from types import FrameType
from typing import Any

import structlog
import uvicorn
from fastapi import FastAPI

from wagate import __version__, heap, worker_process
from wagate.admin import AdminTokenError, check_admin_token, read_admin_token, rotate_admin_token
from wagate.config import Settings, unknown_environment_variables
from wagate.db import Database
from wagate.files import prepare_data_dir
from wagate.logs import configure_logging
from wagate.mcp_server.stdio import TOKEN_VARIABLE, URL_VARIABLE, serve_stdio
from wagate.migrate import upgrade_to_head
from wagate.secretbox import generate_key
from wagate.slow_clients import head_limited_protocol
from wagate.state import AppState
from wagate.worker_process import WorkerProcess


class NodeServer(uvicorn.Server):
    """uvicorn, stopping the way API.md says a node stops on SIGTERM.

    - Live event streams (SSE) never end by themselves, and uvicorn waits for open requests
      before it runs the lifespan shutdown: they are ended as soon as the signal arrives.
    - After a clean stop on SIGTERM the process exits 0 (uvicorn would re-raise the signal).
    - Once started, the heap is frozen (`gc.freeze`), and frozen again once the instances
      the node holds have changed a lot (wagate.heap): the modules, app and pools built at
      start live as long as the process, and CPython's full collections traversed them all
      each time, 80-135 ms with the loop stopped, every few seconds under load (measured
      with gc.callbacks in the async-accept benchmark: every request then in flight waited,
      and p99 went from ~15 to 40-65 ms). Frozen, a full collection sees only what was
      allocated since. Only here, in a process that serves: tests start and drop many apps
      in one process, and frozen cycles would never be freed.
    """

    _heap: asyncio.Task[None] | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        # No state: an app that is not a node (the benchmark's bare endpoint serves so too).
        state: AppState | None = getattr(self.app.state, "wagate", None)
        self._heap = asyncio.create_task(
            heap.keep_frozen(lambda: len(state.manager.names()) if state else 0),
            name="heap-freezer",
        )

    def __init__(
        self, config: uvicorn.Config, app: FastAPI, worker: WorkerProcess | None = None
    ) -> None:
        super().__init__(config)
        self.app = app
        self.worker = worker  # the child holding the instances (wagate.worker_process)

    async def main_loop(self) -> None:
        # Once this node serves (its lifespan has run: migrations, keys, the admin token are
        # in place for the child to find).
        if self.worker is not None:
            await self.worker.start()
        await super().main_loop()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self._heap is not None:
            self._heap.cancel()
        try:
            await super().shutdown(sockets)
        finally:
            if self.worker is not None:
                await self.worker.stop()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.worker is not None:
            self.worker.stopping = True  # the child got the same signal: not restarted
        super().handle_exit(sig, frame)
        if sig == signal.SIGTERM:
            self._captured_signals = [s for s in self._captured_signals if s != sig]
        state: AppState | None = getattr(self.app.state, "wagate", None)
        with contextlib.suppress(RuntimeError):  # no running loop: nothing streams yet
            loop = asyncio.get_running_loop()
            if state is not None:
                loop.call_soon_threadsafe(state.bus.close)


def _serve(settings: Settings, host: str | None, port: int | None) -> None:
    from wagate.app import create_app

    configure_logging(settings)
    for name in unknown_environment_variables():
        # A misspelt setting is otherwise silently ignored and its default used.
        structlog.get_logger("wagate.config").warning(
            "unknown WAGATE_* environment variable ignored (a typo?)", variable=name
        )
    prepare_data_dir(settings.data_dir)
    upgrade_to_head(settings.effective_database_url, settings)
    settings.host, settings.port = host or settings.host, port or settings.port
    worker = worker_process.split(settings)  # the child holds the instances, if any
    app = create_app(settings, run_migrations=False)
    NodeServer(server_config(app, settings), app, worker).run()


WS_MAX_MESSAGE_BYTES = 64 * 1024


def server_config(app: Any, settings: Settings) -> uvicorn.Config:
    """uvicorn's settings of a node (the benchmark's bare endpoint runs on the same)."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=30,
        server_header=False,
        # Slow clients: uvicorn has no deadline for a request head; this protocol adds one
        # (and a size cap on the head, which httptools lacks). Bodies: wagate.limits.
        http=head_limited_protocol(settings.http_header_timeout_s, settings.http_max_header_bytes),
        timeout_keep_alive=settings.http_keepalive_timeout_s,
        limit_concurrency=settings.http_limit_concurrency,
        h11_max_incomplete_event_size=settings.http_max_header_bytes,
        # A WebSocket client sends only its token and pings: a large message is refused
        # (1009) rather than buffered.
        ws_max_size=WS_MAX_MESSAGE_BYTES,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wagate", description="WhatsApp HTTP API gateway")
    parser.add_argument("--version", action="version", version=f"wagate {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run a node: the API, its workers and its engines")
    serve.add_argument("--host", help="listen address (WAGATE_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (WAGATE_PORT, default 8080)")
    commands.add_parser("migrate", help="apply pending database migrations and exit")
    admin = commands.add_parser(
        "admin-token", help="print the generated admin token (from <data dir>/admin-token)"
    )
    admin.add_argument(
        "--rotate",
        action="store_true",
        help="replace it with a new one (the old one stops working)",
    )
    commands.add_parser("secret-key", help="print a new key for WAGATE_SECRET_KEY")
    _mcp_parser(commands)
    args = parser.parse_args(argv)
    if args.command == "secret-key":
        print(generate_key())
        return 0
    if args.command == "mcp":
        return _mcp(args.url, args.token)
    # Whatever the node writes (databases, device stores, media, the key file) is its
    # owner's alone, in this process and the engine hosts it starts (they inherit it).
    os.umask(0o077)
    settings = Settings()
    try:
        if args.command == "migrate":
            prepare_data_dir(settings.data_dir)
            upgrade_to_head(settings.effective_database_url, settings)
            print("migrations applied")
        elif args.command == "admin-token":
            print(_admin_token(settings, rotate=args.rotate))
        else:
            check_admin_token(settings)
            _serve(settings, args.host, args.port)
    except AdminTokenError as error:
        print(f"wagate: {error}", file=sys.stderr)
        return 2
    return 0


def _mcp_parser(commands: Any) -> None:
    mcp = commands.add_parser(
        "mcp", help="an MCP server over stdio, for AI agents, on a running node's API"
    )
    mcp.add_argument(
        "--url",
        default=os.environ.get(URL_VARIABLE, "http://127.0.0.1:8080"),
        help=f"the node's address ({URL_VARIABLE}, default http://127.0.0.1:8080)",
    )
    mcp.add_argument(
        "--token",
        default=os.environ.get(TOKEN_VARIABLE),
        help=f"an admin or instance token ({TOKEN_VARIABLE}; the variable keeps it out of ps)",
    )


def _mcp(url: str, token: str | None) -> int:
    if not token:
        print(f"wagate: mcp needs a token: {TOKEN_VARIABLE} or --token", file=sys.stderr)
        return 2
    # stdout is the protocol's channel: nothing else may write there.
    asyncio.run(serve_stdio(url, token))
    return 0


def _admin_token(settings: Settings, *, rotate: bool) -> str:
    if not rotate:
        return read_admin_token(settings)
    prepare_data_dir(settings.data_dir)
    upgrade_to_head(settings.effective_database_url, settings)

    async def run() -> str:
        db = Database(settings.effective_database_url)
        try:
            token, path = await rotate_admin_token(settings, db)
        finally:
            await db.close()
        print(
            f"wagate: a new admin token replaces the old one; it is also in {path}. "
            "Running nodes take it within seconds; the old one stops working.",
            file=sys.stderr,
        )
        return token

    return asyncio.run(run())


if __name__ == "__main__":
    sys.exit(main())
