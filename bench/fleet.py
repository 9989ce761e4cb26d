"""Many instances on one node: N linked simulator instances (written to the database as
linking leaves them), then `wagate serve`: how long until all are connected, the RSS and CPU
it took, and how long SIGTERM takes to stop the node.

Usage: .venv/bin/python -m bench.fleet [--backend embedded|postgres+redis] [--count 100,1000]
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
from tests.support.fleet import seed_linked

from bench.harness import cpu_seconds, gateway, postgres_database, redis_server, rss_bytes
from bench.scenarios import HEADERS, wait_connected

EMBEDDED, PG_REDIS = "embedded", "postgres+redis"


def fleet(backend: str, count: int) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="wagate-bench-fleet-"))
    with ExitStack() as stack:
        if backend == PG_REDIS:
            database_url: str | None = stack.enter_context(postgres_database())
            redis_url: str | None = stack.enter_context(redis_server())
        else:
            database_url, redis_url = None, None
        seeded = database_url or f"sqlite+aiosqlite:///{data_dir / 'wagate.db'}"
        asyncio.run(seed_linked(seeded, count, prefix="b"))
        spawned = time.monotonic()
        with gateway(database_url, redis_url, data_dir, start_timeout=600) as proc:

            async def all_connected() -> None:
                async with httpx.AsyncClient(base_url=proc.url, headers=HEADERS, timeout=60) as c:
                    await wait_connected(c, count)

            asyncio.run(all_connected())
            connected_s = time.monotonic() - spawned
            start_cpu = cpu_seconds(proc.popen.pid)
            time.sleep(2)
            rss = rss_bytes(proc.popen.pid)
            stopping = time.monotonic()
            proc.popen.send_signal(signal.SIGTERM)
            proc.popen.wait(300)
            stop_s = time.monotonic() - stopping
            code = proc.popen.returncode
    return {
        "instances": count,
        "all connected s": round(connected_s, 2),
        "start CPU ms/instance": round(1000 * start_cpu / count, 2),
        "RSS MiB": round(rss / 2**20, 1),
        "SIGTERM to exit s": round(stop_s, 2),
        "exit code": code,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", default=EMBEDDED, choices=[EMBEDDED, PG_REDIS])
    parser.add_argument("--count", default="100,1000,10000", help="comma list")
    args = parser.parse_args()
    for count in (int(c) for c in args.count.split(",")):
        print(args.backend, fleet(args.backend, count), flush=True)


if __name__ == "__main__":
    main()
