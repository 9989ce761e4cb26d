"""Many instances on one node: N linked simulator instances (written to the database as
linking leaves them), then `wagate serve`: how long until all are connected, the RSS and CPU
it took, the CPU it uses while idle, and how long SIGTERM takes to stop the node.

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

from bench.harness import (
    Proc,
    backends_cpu,
    backends_cpu_since,
    cpu_seconds,
    gateway,
    postgres_database,
    redis_server,
    rss_bytes,
)
from bench.scenarios import (
    HEADERS,
    PREFIX,
    receiver,
    submit_batches,
    wait_connected,
    wait_receiver,
)

EMBEDDED, PG_REDIS = "embedded", "postgres+redis"
IDLE_S = 10.0
SETTLE_S = 15.0
DRAIN_INSTANCES = 100  # the drain scenario's: its messages go to the first 100 of the fleet


async def held_connected(client: httpx.AsyncClient) -> int:
    """The connected instances the node holds, from its metrics."""
    try:
        r = await client.get("/metrics")
    except httpx.HTTPError:
        return 0
    for line in r.text.splitlines():
        if line.startswith('wagate_instances{status="connected"}'):
            return int(float(line.split()[-1]))
    return 0


def fleet(
    backend: str,
    count: int,
    drain: int = 0,
    settings: dict[str, str] | None = None,
    settle_s: float = SETTLE_S,
) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="wagate-bench-fleet-"))
    drained: dict[str, Any] = {}
    with ExitStack() as stack:
        if backend == PG_REDIS:
            database_url: str | None = stack.enter_context(postgres_database())
            redis_url: str | None = stack.enter_context(redis_server())
        else:
            database_url, redis_url = None, None
        env = dict(settings or {})
        if drain:
            rx = stack.enter_context(receiver())
            env["WAGATE_WEBHOOK_URL"] = rx.url + "/hook"
            env["WAGATE_WEBHOOK_EVENTS"] = "message_ack"
        seeded = database_url or f"sqlite+aiosqlite:///{data_dir / 'wagate.db'}"
        asyncio.run(seed_linked(seeded, count, prefix=PREFIX))
        spawned = time.monotonic()
        with gateway(database_url, redis_url, data_dir, env, start_timeout=600) as proc:

            async def all_connected() -> None:
                async with httpx.AsyncClient(base_url=proc.url, headers=HEADERS, timeout=60) as c:
                    # The node's own count first: listing 10,000 instances every second cost
                    # the node a tenth of its CPU while it connected them. Then the list, once.
                    while await held_connected(c) < count:
                        await asyncio.sleep(0.5)
                    await wait_connected(c, count)

            asyncio.run(all_connected())
            connected_s = time.monotonic() - spawned
            start_cpu = cpu_seconds(proc.popen.pid)
            # Settled: the node freezes its heap again once its instances stop changing.
            time.sleep(settle_s)
            rss = rss_bytes(proc.popen.pid)
            # What holding them costs while nothing is sent (renewals, senders, placement).
            idle_cpu = cpu_seconds(proc.popen.pid)
            time.sleep(IDLE_S)
            idle_cpu = cpu_seconds(proc.popen.pid) - idle_cpu
            if drain:
                drained = drain_some(proc, rx, database_url, drain)
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
        "idle CPU %": round(100 * idle_cpu / IDLE_S, 1),
        "SIGTERM to exit s": round(stop_s, 2),
        "exit code": code,
        **drained,
    }


def drain_some(proc: Proc, rx: Proc, database_url: str | None, total: int) -> dict[str, Any]:
    """The drain scenario's load on DRAIN_INSTANCES of the fleet: whether the instances that
    send nothing slow down the ones that do."""
    httpx.post(rx.url + "/reset")
    pid = proc.popen.pid
    cpu_before = cpu_seconds(pid)
    pg_before = backends_cpu(database_url) if database_url else None
    started = asyncio.run(submit_batches(proc.url, DRAIN_INSTANCES, total))
    stats = wait_receiver(rx, "message_ack", total, timeout=900)
    elapsed = stats["message_ack_last"] - started
    figures = {
        "drain msg/s": round(total / elapsed),
        "drain CPU ms/msg": round((cpu_seconds(pid) - cpu_before) * 1000 / total, 3),
    }
    if database_url and pg_before is not None:
        figures["drain PG CPU ms/msg"] = round(
            backends_cpu_since(database_url, pg_before) * 1000 / total, 3
        )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", default=EMBEDDED, choices=[EMBEDDED, PG_REDIS])
    parser.add_argument("--count", default="100,1000,10000", help="comma list")
    parser.add_argument(
        "--drain", type=int, default=0, help="then drain this many messages over 100 instances"
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=SETTLE_S,
        help="seconds between all connected and the idle window (the first minute after the"
        " instances were adopted their senders still look for abandoned entries each claim"
        " period)",
    )
    parser.add_argument(
        "--env", action="append", default=[], help="KEY=VALUE: a setting of the node (repeat)"
    )
    args = parser.parse_args()
    settings = dict(pair.split("=", 1) for pair in args.env)
    for count in (int(c) for c in args.count.split(",")):
        print(
            args.backend,
            settings or "",
            fleet(args.backend, count, args.drain, settings, args.settle),
            flush=True,
        )


if __name__ == "__main__":
    main()
