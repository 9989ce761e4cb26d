"""Profile the gateway under one of the benchmark's loads with py-spy (pip install py-spy).

    .venv/bin/python -m bench.profile async out.txt            # async accept, PostgreSQL + Redis
    .venv/bin/python -m bench.profile sync out.txt --embedded  # sync sends, SQLite
    .venv/bin/python -m bench.profile drain out.txt            # the drain scenario's load

Starts a gateway like the bench does (fresh database, private redis-server), links 50
simulator instances (200 ms send latency), warms up, then records `py-spy record -f raw`
(collapsed stacks: one line per stack and its sample count) while wrk runs. In `drain` mode
it records while the drain scenario's 20,000 messages are accepted and sent instead.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import time

from bench import scenarios
from bench.harness import VENV_BIN, wrk


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["async", "sync", "drain"])
    parser.add_argument("out")
    parser.add_argument("--embedded", action="store_true")
    parser.add_argument("--duration", type=int, default=8)
    args = parser.parse_args()
    backend = "sqlite (embedded)" if args.embedded else "postgres+redis"
    if args.mode == "drain":
        drain(backend, args)
        return
    query = "?async=true" if args.mode == "async" else ""
    connections = 16 if args.mode == "async" else 100
    with scenarios.backend_gateway(backend) as proc:
        asyncio.run(scenarios.link_instances(proc.url, 50, latency_ms=200))
        load = {"instances": 50, "prefix": scenarios.PREFIX, "query": query}
        wrk(proc.url, **load, duration_s=2, connections=connections)  # warm-up
        spy = record(proc.popen.pid, args)
        time.sleep(0.5)
        print(wrk(proc.url, **load, duration_s=args.duration - 1, connections=connections))
        spy.wait()


def drain(backend: str, args: argparse.Namespace) -> None:
    import httpx

    with scenarios.receiver() as rx:
        env = {"WAGATE_WEBHOOK_URL": rx.url + "/hook", "WAGATE_WEBHOOK_EVENTS": "message_ack"}
        with scenarios.backend_gateway(backend, env) as proc:
            asyncio.run(scenarios.link_instances(proc.url, 100))
            httpx.post(rx.url + "/reset")
            spy = record(proc.popen.pid, args)
            time.sleep(0.5)
            started = asyncio.run(scenarios.submit_batches(proc.url, 100, 20_000))
            stats = scenarios.wait_receiver(rx, "message_ack", 20_000, timeout=900)
            print({"msg/s": round(20_000 / (stats["message_ack_last"] - started))})
            spy.wait()


def record(pid: int, args: argparse.Namespace) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            str(VENV_BIN / "py-spy"),
            "record",
            "-p",
            str(pid),
            "-d",
            str(args.duration),
            "-f",
            "raw",
            "-o",
            args.out,
            "-r",
            "200",
            "--nonblocking",
        ]
    )


if __name__ == "__main__":
    main()
