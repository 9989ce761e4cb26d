"""The benchmark's scenarios, each on a fresh database (and a fresh Redis when it uses one)."""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.harness import (
    ADMIN_TOKEN,
    VENV_BIN,
    Proc,
    WrkResult,
    backends_cpu,
    backends_cpu_since,
    cpu_seconds,
    database_writes,
    free_port,
    gateway,
    postgres_database,
    process,
    redis_server,
    rss_bytes,
    wrk,
)

HEADERS = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# Requests in flight for the bare endpoint and the async accept (the same for both). The bare
# endpoint is CPU-bound from 16 on (16/24/32 connections: 4,323/4,478/4,373 req/s, one
# machine, one minute); an async accept waits for its commit, so at 16 its node idled a fifth
# of the time. At 24, p99 stays near 15 ms (bench/before_after.md, round 5).
ACCEPT_CONNECTIONS = 24
PREFIX = "b"
RECIPIENT = "+5511999912345"


@dataclass
class Row:
    name: str
    backend: str
    figures: dict[str, Any] = field(default_factory=dict)


@dataclass
class Nodes:
    """The gateway of a scenario: `api` takes the load, `holder` holds the instances (the
    same process on one node)."""

    api: Proc
    holder: Proc
    database_url: str | None = None  # PostgreSQL's, when the scenario runs on it

    @property
    def pids(self) -> list[int]:
        """The nodes' processes and their children (a node's worker process)."""
        roots = {self.api.popen.pid, self.holder.popen.pid}
        return sorted(roots | {child for pid in roots for child in children(pid)})

    def cpu_seconds(self) -> float:
        return sum(cpu_seconds(pid) for pid in self.pids)


@contextmanager
def backend_gateway(
    backend: str, extra_env: dict[str, str] | None = None, *, api_node: bool = False
) -> Iterator[Nodes]:
    """The gateway on `backend`. With `api_node` (PostgreSQL + Redis only) it is two nodes of
    one cluster on this machine, as one deploys for throughput: an API node
    (`WAGATE_ROLE=api`: the HTTP load, no instances) and a node that holds the instances and
    runs their senders, so the senders' work does not share the API's event loop."""
    with ExitStack() as stack:
        if backend == "postgres+redis":
            database_url: str | None = stack.enter_context(postgres_database())
            redis_url: str | None = stack.enter_context(redis_server())
        else:
            database_url = redis_url = None
        data_dir = Path(tempfile.mkdtemp(prefix="wagate-bench-data-"))
        holder = stack.enter_context(gateway(database_url, redis_url, data_dir, extra_env))
        api = holder
        if api_node:
            assert redis_url is not None, "an API node needs the cluster (PostgreSQL + Redis)"
            api_dir = Path(tempfile.mkdtemp(prefix="wagate-bench-data-"))
            env = {**(extra_env or {}), "WAGATE_ROLE": "api"}
            api = stack.enter_context(gateway(database_url, redis_url, api_dir, env))
        yield Nodes(api, holder, database_url)


@contextmanager
def receiver() -> Iterator[Proc]:
    port = free_port()
    args = [str(VENV_BIN / "python"), "-m", "bench.receiver", str(port)]
    with process(
        args,
        f"http://127.0.0.1:{port}",
        health="/stats",
        cwd=Path(__file__).resolve().parent.parent,
    ) as proc:
        yield proc


async def link_instances(url: str, count: int, latency_ms: int = 0, concurrency: int = 25) -> None:
    """Create `count` simulator instances b0..bN, connect and scan each."""
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=url, headers=HEADERS, timeout=60) as client:

        async def one(i: int) -> None:
            name = f"{PREFIX}{i}"
            async with gate:
                r = await client.post("/v1/instances", json={"name": name, "engine": "simulator"})
                assert r.status_code in (201, 409), r.text
                # 503 while no node takes instances yet (a worker process starting).
                for _ in range(600):
                    r = await client.post(f"/v1/instances/{name}/connect")
                    if r.status_code != 503:
                        break
                    await asyncio.sleep(0.2)
                for _ in range(500):
                    r = await client.post(f"/v1/instances/{name}/simulator/scan", json={})
                    if r.status_code == 204:
                        break
                    await asyncio.sleep(0.02)
                if latency_ms:
                    r = await client.post(
                        f"/v1/instances/{name}/simulator/faults",
                        json={"send_latency_ms": latency_ms},
                    )
                    assert r.status_code == 200, r.text

        await asyncio.gather(*(one(i) for i in range(count)))
        await wait_connected(client, count)


async def count_connected(client: httpx.AsyncClient) -> int:
    """How many instances the list shows connected, page after page."""
    params: dict[str, str] = {"status": "connected", "limit": "1000"}
    found = 0
    while True:
        r = await client.get("/v1/instances", params=params)
        r.raise_for_status()
        found += len(r.json()["instances"])
        if r.json()["next_cursor"] is None:
            return found
        params["cursor"] = r.json()["next_cursor"]


async def wait_connected(client: httpx.AsyncClient, count: int, timeout: float = 600) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if await count_connected(client) >= count:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.2 if count < 1000 else 1.0)
    raise RuntimeError("instances did not all connect")


def wrk_figures(result: WrkResult, gateway_cpu_s: float | None = None) -> dict[str, Any]:
    figures = {
        "req/s": round(result.requests_per_s),
        "p50 ms": round(result.p50_ms, 2),
        "p99 ms": round(result.p99_ms, 2),
        "requests": result.requests,
        "errors": result.errors + result.non_2xx,
        "wrk CPU %": round(100 * result.wrk_cpu_s / result.duration_s),
    }
    if gateway_cpu_s is not None:
        figures["server CPU %"] = round(100 * gateway_cpu_s / result.duration_s)
    return figures


def run_wrk_measured(proc: Proc, nodes: Nodes | None = None, **kwargs: Any) -> dict[str, Any]:
    """wrk against `proc`; the server CPU is that of `nodes` when given (all the gateway's
    processes), else of `proc`."""

    def server_cpu() -> float:
        return nodes.cpu_seconds() if nodes is not None else cpu_seconds(proc.popen.pid)

    before = server_cpu()
    result = wrk(proc.url, **kwargs)
    return wrk_figures(result, server_cpu() - before)


# --- 1. ceiling ----------------------------------------------------------------------------


@contextmanager
def ceiling_server() -> Iterator[Proc]:
    """The bare endpoint's process, kept up for the whole run: it is measured right before
    and right after the async-accept scenario (see `ceiling_run`)."""
    port = free_port()
    args = [str(VENV_BIN / "python"), "-m", "bench.ceiling", str(port)]
    root = Path(__file__).resolve().parent.parent
    with process(args, f"http://127.0.0.1:{port}", health="/docs", cwd=root) as proc:
        yield proc


def ceiling_run(proc: Proc, duration_s: int) -> dict[str, Any]:
    load: dict[str, Any] = {"instances": 50, "prefix": PREFIX, "connections": ACCEPT_CONNECTIONS}
    wrk(proc.url, **load, duration_s=2)  # warm-up
    return run_wrk_measured(proc, **load, duration_s=duration_s)


def ceiling_row(runs: list[dict[str, Any]]) -> Row:
    """One row for the ceiling's runs: the figures of the first, the rate their mean. This
    machine's speed drifts by a fifth within minutes, so the async accept is compared with
    the endpoint measured on both sides of it rather than minutes before."""
    figures = dict(runs[0])
    figures["req/s"] = round(sum(run["req/s"] for run in runs) / len(runs))
    if len(runs) > 1:
        figures["req/s of each run"] = " / ".join(str(run["req/s"]) for run in runs)
    return Row("ceiling: bare endpoint", "-", figures)


TWO_NODES = ", API node + holder node"
ONE_NODE = ", one node"


def topology(api_node: bool) -> str:
    """How a row's gateway ran, in its name (the targets tell the rows apart by it)."""
    return TWO_NODES if api_node else ONE_NODE


WORKER_PROCESS = {"WAGATE_WORKER_PROCESS": "true"}


def variant(env: dict[str, str] | None) -> str:
    return " (WAGATE_WORKER_PROCESS)" if env and env.get("WAGATE_WORKER_PROCESS") else ""


def children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


# --- 2 and 3. sync sends and async accept --------------------------------------------------


def sends(
    backend: str,
    mode: str,
    duration_s: int,
    instances: int = 50,
    *,
    single: bool = False,
    env: dict[str, str] | None = None,
) -> Row:
    """`single`: PostgreSQL + Redis as one `wagate serve`, as a user starts it (else an API
    node beside the holder); SQLite is always one node. `env`: the gateway's settings."""
    query = "?async=true" if mode == "async" else ""
    api_node = backend == "postgres+redis" and not single
    with backend_gateway(backend, env, api_node=api_node) as nodes:
        asyncio.run(link_instances(nodes.holder.url, instances, latency_ms=200))
        connections = 100 if mode == "sync" else ACCEPT_CONNECTIONS
        load: dict[str, Any] = {"instances": instances, "prefix": PREFIX, "query": query}
        wrk(nodes.api.url, **load, duration_s=2, connections=connections)  # warm-up
        api_before = cpu_seconds(nodes.api.popen.pid)
        figures = run_wrk_measured(
            nodes.api, nodes, **load, duration_s=duration_s, connections=connections
        )
        if api_node:  # the API node's own share of the server CPU above
            figures["API node CPU %"] = round(
                100 * (cpu_seconds(nodes.api.popen.pid) - api_before) / duration_s
            )
    figures["msg/s"] = figures.pop("req/s")
    label = "sync sends (200 ms latency)" if mode == "sync" else "async accept"
    name = f"{label}, {instances} instances{topology(api_node)}{variant(env)}"
    return Row(name, backend, figures)


# --- 4 and 5. drain and webhook delivery ---------------------------------------------------


async def submit_batches(url: str, instances: int, total: int) -> float:
    """Accept `total` messages spread over the instances; returns when the first was sent."""
    per_instance = total // instances
    started = time.time()
    async with httpx.AsyncClient(base_url=url, headers=HEADERS, timeout=120) as client:
        gate = asyncio.Semaphore(8)

        async def batch(i: int) -> None:
            body = {
                "messages": [
                    {"kind": "text", "to": RECIPIENT, "text": f"m{i}-{n}"}
                    for n in range(per_instance)
                ]
            }
            async with gate:
                r = await client.post(f"/v1/instances/{PREFIX}{i}/send/batch?async=true", json=body)
            assert r.status_code == 202, r.text[:500]

        await asyncio.gather(*(batch(i) for i in range(instances)))
    return started


def wait_receiver(rx: Proc, key: str, count: int, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    stats: dict[str, Any] = {}
    while time.monotonic() < deadline:
        stats = httpx.get(rx.url + "/stats").json()
        got = stats["count"] if key == "*" else stats["by_event"].get(key, 0)
        if got >= count:
            return stats
        time.sleep(0.2)
    raise RuntimeError(f"receiver got {stats} of {count} {key}")


def drain(
    backend: str,
    total: int = 20_000,
    instances: int = 100,
    *,
    single: bool = False,
    env: dict[str, str] | None = None,
) -> Row:
    api_node = backend == "postgres+redis" and not single
    settings = env
    with receiver() as rx:
        env = {
            **(settings or {}),
            "WAGATE_WEBHOOK_URL": rx.url + "/hook",
            "WAGATE_WEBHOOK_EVENTS": "message_ack",
        }
        with backend_gateway(backend, env, api_node=api_node) as nodes:
            asyncio.run(link_instances(nodes.holder.url, instances))
            httpx.post(rx.url + "/reset")
            cpu_before = nodes.cpu_seconds()
            holder_before = cpu_seconds(nodes.holder.popen.pid)
            pg_before = backends_cpu(nodes.database_url) if nodes.database_url else None
            writes_before = database_writes(nodes.database_url) if nodes.database_url else None
            started = asyncio.run(submit_batches(nodes.api.url, instances, total))
            accepted_s = time.time() - started
            stats = wait_receiver(rx, "message_ack", total, timeout=900)
            # The gateway's CPU per message: on a shared machine a steadier figure than msg/s.
            cpu_ms = (nodes.cpu_seconds() - cpu_before) * 1000 / total
            holder_ms = (cpu_seconds(nodes.holder.popen.pid) - holder_before) * 1000 / total
            pg: dict[str, float] = {}
            if nodes.database_url and pg_before is not None:
                pg["PG CPU ms/msg"] = round(
                    backends_cpu_since(nodes.database_url, pg_before) * 1000 / total, 3
                )
                pg.update(pg_writes(nodes.database_url, writes_before, total))
    elapsed = stats["message_ack_last"] - started
    return Row(
        f"drain: {total} msgs / {instances} instances{topology(api_node)}{variant(settings)}",
        backend,
        {
            "msg/s": round(total / elapsed),
            "seconds": round(elapsed, 2),
            "accept seconds": round(accepted_s, 2),
            "acks": stats["by_event"]["message_ack"],
            "server CPU ms/msg": round(cpu_ms, 2),
            **({"of which holder": round(holder_ms, 2)} if api_node else {}),
            **pg,
        },
    )


def pg_writes(database_url: str, before: tuple[int, int] | None, total: int) -> dict[str, float]:
    """PostgreSQL's commits and row writes per message since `before`: how many writes a
    message's life costs, beside the CPU they take."""
    after = database_writes(database_url)
    if before is None or after is None:
        return {}
    return {
        "PG commits/msg": round((after[0] - before[0]) / total, 2),
        "PG rows written/msg": round((after[1] - before[1]) / total, 2),
    }


def webhooks(backend: str, total: int = 10_000, instances: int = 50) -> Row:
    """All events of `total` sends (ack + delivered + read = 3 per message) to one receiver."""
    with receiver() as rx:
        env = {"WAGATE_WEBHOOK_URL": rx.url + "/hook"}
        with backend_gateway(backend, env) as nodes:
            asyncio.run(link_instances(nodes.api.url, instances))
            time.sleep(1)
            httpx.post(rx.url + "/reset")
            asyncio.run(submit_batches(nodes.api.url, instances, total))
            stats = wait_receiver(rx, "message_status", 2 * total, timeout=900)
    elapsed = stats["last"] - stats["first"]
    return Row(
        f"webhook delivery ({total} sends, all events)",
        backend,
        {
            "deliveries/s": round(stats["count"] / elapsed),
            "deliveries": stats["count"],
            "seconds": round(elapsed, 2),
        },
    )


# --- 6. scale ------------------------------------------------------------------------------


def scale(backend: str, instances: int) -> Row:
    data_dir = Path(tempfile.mkdtemp(prefix="wagate-bench-scale-"))
    from bench.harness import gateway as start_gateway

    with ExitStack() as stack:
        database_url = stack.enter_context(postgres_database())
        redis_url = stack.enter_context(redis_server())
        with start_gateway(database_url, redis_url, data_dir) as proc:
            base_rss = rss_bytes(proc.popen.pid)
            asyncio.run(link_instances(proc.url, instances, concurrency=50))
        # Restart: every linked instance is reconnected at start, without a scan.
        spawned = time.monotonic()
        with start_gateway(database_url, redis_url, data_dir) as proc:

            async def all_connected() -> float:
                async with httpx.AsyncClient(base_url=proc.url, headers=HEADERS) as client:
                    return await wait_connected(client, instances)

            asyncio.run(all_connected())
            reconnect_s = time.monotonic() - spawned
            time.sleep(2)
            rss = rss_bytes(proc.popen.pid)
    return Row(
        f"scale: {instances} linked instances",
        backend,
        {
            "RSS MiB": round(rss / 2**20, 1),
            "KiB/instance": round((rss - base_rss) / instances / 1024, 1),
            "reconnect all s": round(reconnect_s, 2),
        },
    )


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
