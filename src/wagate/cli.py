"""The `wagate` command: `serve` and `migrate`."""

from __future__ import annotations

import argparse
import sys

import uvicorn

from wagate.config import Settings
from wagate.migrate import upgrade_to_head


def _serve(settings: Settings, host: str | None, port: int | None) -> None:
    from wagate.app import create_app

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade_to_head(settings.effective_database_url)
    app = create_app(settings, run_migrations=False)
    uvicorn.run(
        app,
        host=host or settings.host,
        port=port or settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=30,
        server_header=False,
        # Slow clients: uvicorn has no timeout for a request head that never completes (a
        # reverse proxy in front covers that, SECURITY.md); what it offers is set here.
        timeout_keep_alive=settings.http_keepalive_timeout_s,
        limit_concurrency=settings.http_limit_concurrency,
        h11_max_incomplete_event_size=settings.http_max_header_bytes,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wagate", description="WhatsApp HTTP API gateway")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run a node: the API, its workers and its engines")
    serve.add_argument("--host", help="listen address (WAGATE_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (WAGATE_PORT, default 8080)")
    commands.add_parser("migrate", help="apply pending database migrations and exit")
    args = parser.parse_args(argv)
    settings = Settings()
    if args.command == "migrate":
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        upgrade_to_head(settings.effective_database_url)
        print("migrations applied")
        return 0
    _serve(settings, args.host, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
