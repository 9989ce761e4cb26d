"""WebSocket throughput, for bench/sinks.py: one node serves its app over real HTTP on loopback,
a consumer process holds one `/v1/instances/{instance}/events/ws` stream per instance (each
with that instance's token), the node publishes the events through its event bus and the
figure is events/s until the consumer has counted every one of them.

The consumer is a process of its own, as the webhook receiver is: the node's CPU figure is the
node's alone. Its send buffer (`WAGATE_WS_SEND_BUFFER`) holds at least an instance's whole
share, so a burst the consumer reads a little later is measured rather than cut off (4008).
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy import select

from bench import webhooks
from wagate.app import create_app
from wagate.config import Settings
from wagate.events.payloads import Payload
from wagate.models import Instance

ADMIN_TOKEN = "wga_bench_admin_token_0123456789abcdef"

# Reads its streams (URL, token, share) as one JSON line on stdin, so no token is in its
# command line; prints "ready" once every stream greeted it, then one JSON line with what it
# counted (distinct event ids per stream) once every share arrived or a stream was closed.
CONSUMER = """
import asyncio, contextlib, json, sys, time, uvloop
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

async def count(ws, share):
    seen = set()
    try:
        while len(seen) < share:
            message = json.loads(await ws.recv())
            if "event" in message:
                seen.add(message["id"])
    except ConnectionClosed as exc:
        return len(seen), exc.rcvd.code if exc.rcvd else -1
    return len(seen), None

async def main():
    spec = json.loads(sys.stdin.readline())
    async with contextlib.AsyncExitStack() as stack:
        streams = []
        for item in spec:
            headers = {"Authorization": "Bearer " + item["token"]}
            ws = await stack.enter_async_context(connect(item["url"], additional_headers=headers))
            hello = json.loads(await ws.recv())
            if hello.get("type") != "connected":
                raise SystemExit("stream refused: " + json.dumps(hello))
            streams.append((ws, item["share"]))
        print("ready", flush=True)
        cpu = time.process_time()
        counted = await asyncio.gather(*(count(ws, share) for ws, share in streams))
        cpu = time.process_time() - cpu
    closes = [code for _, code in counted if code is not None]
    got = sum(n for n, _ in counted)
    print(json.dumps({"received": got, "closes": closes, "cpu_s": cpu}), flush=True)

uvloop.run(main())
"""


@asynccontextmanager
async def serving(app: FastAPI, port: int) -> AsyncIterator[str]:
    """The app (already started) over real HTTP on loopback; yields its base URL."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="off", log_config=None, access_log=False
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


async def create_instances(app: FastAPI, base_url: str, count: int) -> list[tuple[str, int, str]]:
    """`count` instances created through the API: (name, id, token) each."""
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    tokens: dict[str, str] = {}
    run_id = f"{time.time_ns() % 10**9:09d}"  # a database reused (--database-url) has older ones
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as http:
        for n in range(count):
            body = {"name": f"ws{run_id}-{n}", "engine": "simulator"}
            response = await http.post("/v1/instances", json=body)
            response.raise_for_status()
            tokens[body["name"]] = response.json()["token"]
    async with app.state.wagate.db.session() as session:
        rows = await session.execute(
            select(Instance.name, Instance.id).where(Instance.name.in_(tokens))
        )
        ids = {name: instance_id for name, instance_id in rows}
    return [(name, ids[name], token) for name, token in tokens.items()]


def shares(count: int, instances: int) -> list[int]:
    """The count spread over the instances as evenly as it goes (every event sent)."""
    return [count // instances + (1 if n < count % instances else 0) for n in range(instances)]


async def run(args: Any, database_url: str, payload: Payload) -> dict[str, Any]:
    """`args.count` events over `args.instances` instances (`args.ws_port`: 0 for any)."""
    with tempfile.TemporaryDirectory(prefix="wagate-bench-ws-") as data_dir:
        return await run_in(args, database_url, payload, Path(data_dir))


async def run_in(args: Any, database_url: str, payload: Payload, data_dir: Path) -> dict[str, Any]:
    share = shares(args.count, args.instances)
    settings = Settings(
        _env_file=None,
        database_url=database_url,
        data_dir=data_dir,
        admin_token=SecretStr(ADMIN_TOKEN),
        engine="simulator",
        log_level="warning",
        ws_send_buffer=max(1000, max(share)),
    )
    app = create_app(settings, run_migrations=False)
    port = args.ws_port or webhooks.free_port()
    async with app.router.lifespan_context(app), serving(app, port) as base_url:
        instances = await create_instances(app, base_url, args.instances)
        ws_base = base_url.replace("http://", "ws://")
        spec = [
            {"url": f"{ws_base}/v1/instances/{name}/events/ws", "token": token, "share": n}
            for (name, _, token), n in zip(instances, share, strict=True)
        ]
        consumer = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            CONSUMER,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            return await measure(app, consumer, spec, instances, payload)
        finally:
            if consumer.returncode is None:
                consumer.kill()
            await consumer.wait()


async def measure(
    app: FastAPI,
    consumer: asyncio.subprocess.Process,
    spec: list[dict[str, Any]],
    instances: list[tuple[str, int, str]],
    payload: Payload,
) -> dict[str, Any]:
    assert consumer.stdin is not None and consumer.stdout is not None
    consumer.stdin.write(json.dumps(spec).encode() + b"\n")
    await consumer.stdin.drain()
    consumer.stdin.close()
    ready = await asyncio.wait_for(consumer.stdout.readline(), 60)
    if ready.strip() != b"ready":
        raise RuntimeError(f"the WebSocket consumer did not start: {ready!r}")
    bus = app.state.wagate.bus

    async def publisher(name: str, instance_id: int, share: int) -> None:
        for _ in range(share):
            await bus.publish(name, instance_id, payload)

    started = time.perf_counter()
    cpu_started = time.process_time()
    await asyncio.gather(
        *(
            publisher(name, instance_id, item["share"])
            for (name, instance_id, _), item in zip(instances, spec, strict=True)
        )
    )
    line = await asyncio.wait_for(consumer.stdout.readline(), 600)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    counted = json.loads(line)
    expected = sum(item["share"] for item in spec)
    if counted["received"] != expected or counted["closes"]:
        raise RuntimeError(f"WebSocket consumer got {counted} of {expected} events")
    return {
        "delivered": expected,
        "seconds": round(elapsed, 2),
        "per_s": int(expected / elapsed),
        # The node's CPU per event (publish, fan-out, JSON, WebSocket frames), and the
        # consumer's (a Python `websockets` client parsing every message).
        "cpu_ms_per_event": round(cpu * 1000 / expected, 3),
        "consumer_cpu_ms_per_event": round(counted["cpu_s"] * 1000 / expected, 3),
    }
