"""Profile the gateway under one of the benchmark's loads with py-spy (pip install py-spy).

    .venv/bin/python -m bench.profile async out.txt            # async accept, PostgreSQL + Redis
    .venv/bin/python -m bench.profile sync out.txt --embedded  # sync sends, SQLite
    .venv/bin/python -m bench.profile drain out.txt            # the drain scenario's load

Starts a gateway like the bench does (fresh database, private redis-server; on PostgreSQL +
Redis an API node beside the node holding the instances, and `--holder` profiles the latter
instead of the API node), links 50
simulator instances (200 ms send latency), warms up, then records `py-spy record -f raw`
(collapsed stacks: one line per stack and its sample count) while wrk runs. In `drain` mode
it records while the drain scenario's 20,000 messages are accepted and sent instead.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import time
from typing import Any

from bench import scenarios
from bench.harness import VENV_BIN, wrk


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["async", "sync", "drain"])
    parser.add_argument("out")
    parser.add_argument("--embedded", action="store_true")
    parser.add_argument("--duration", type=int, default=8)
    parser.add_argument(
        "--holder", action="store_true", help="profile the node holding the instances"
    )
    args = parser.parse_args()
    backend = "sqlite (embedded)" if args.embedded else "postgres+redis"
    if args.mode == "drain":
        drain(backend, args)
        return
    query = "?async=true" if args.mode == "async" else ""
    connections = scenarios.ACCEPT_CONNECTIONS if args.mode == "async" else 100
    api_node = not args.embedded  # as in the benchmark: an API node beside the holder
    with scenarios.backend_gateway(backend, api_node=api_node) as nodes:
        asyncio.run(scenarios.link_instances(nodes.holder.url, 50, latency_ms=200))
        load: dict[str, Any] = {"instances": 50, "prefix": scenarios.PREFIX, "query": query}
        wrk(nodes.api.url, **load, duration_s=2, connections=connections)  # warm-up
        spy = record((nodes.holder if args.holder else nodes.api).popen.pid, args)
        time.sleep(0.5)
        print(wrk(nodes.api.url, **load, duration_s=args.duration - 1, connections=connections))
        spy.wait()


def drain(backend: str, args: argparse.Namespace) -> None:
    import httpx

    with scenarios.receiver() as rx:
        env = {"WAGATE_WEBHOOK_URL": rx.url + "/hook", "WAGATE_WEBHOOK_EVENTS": "message_ack"}
        api_node = not args.embedded
        with scenarios.backend_gateway(backend, env, api_node=api_node) as nodes:
            asyncio.run(scenarios.link_instances(nodes.holder.url, 100))
            httpx.post(rx.url + "/reset")
            spy = record(
                (nodes.api if api_node and not args.holder else nodes.holder).popen.pid, args
            )
            time.sleep(0.5)
            started = asyncio.run(scenarios.submit_batches(nodes.api.url, 100, 20_000))
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
