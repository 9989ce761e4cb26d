"""The accept path's CPU alone: the app driven in-process (no HTTP server, no load generator),
so the figure is the gateway's own cost per async accept, steadier on a shared machine than
requests per second.

    .venv/bin/python -m bench.asgi_accept [--count 6000] [--profile tottime] [--embedded]

Makes a fresh PostgreSQL database, runs the app's lifespan against it and the Redis given by
WAGATE_TEST_REDIS_URL (own key prefix) -- or, with `--embedded`, against a fresh SQLite file
and no Redis, as `wagate serve` starts by default -- creates 50 simulator instances (not
connected: no sender runs), then sends `--count` text messages with `?async=true` from 16
concurrent callers and prints accepts per second and the process's CPU per accept.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import time
import uuid
from typing import Any

import uvloop

from bench.harness import ADMIN_TOKEN, postgres_database
from wagate.app import create_app
from wagate.config import Settings

CALLERS = 16
INSTANCES = 50
BODY = b'{"to":"+5511999912345","text":"hello from the benchmark"}'


def scope_of(app: Any, path: str, body: bytes, query: bytes) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "root_path": "",
        "headers": [
            (b"host", b"bench"),
            (b"authorization", f"Bearer {ADMIN_TOKEN}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }


async def post(app: Any, path: str, body: bytes, query: bytes = b"") -> tuple[int, bytes]:
    delivered = False

    async def receive() -> dict[str, Any]:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # no disconnect
        raise AssertionError

    messages: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    await app(scope_of(app, path, body, query), receive, send)
    return messages[0]["status"], b"".join(m.get("body", b"") for m in messages[1:])


async def run(database_url: str | None, count: int, profile: str | None) -> None:
    if database_url:
        os.environ.update(
            WAGATE_DATABASE_URL=database_url,
            WAGATE_REDIS_URL=os.environ.get("WAGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
        )
    else:  # the embedded defaults: SQLite in the data directory, no Redis
        os.environ.pop("WAGATE_DATABASE_URL", None)
        os.environ.pop("WAGATE_REDIS_URL", None)
    os.environ.update(
        WAGATE_ADMIN_TOKEN=ADMIN_TOKEN,
        WAGATE_LOG_LEVEL="warning",
        WAGATE_NODE_ID=f"asgi-{uuid.uuid4().hex[:6]}",
        WAGATE_QUEUE_KEY_PREFIX=f"wagate-bench-{uuid.uuid4().hex[:8]}:q:",
        WAGATE_CLUSTER_KEY_PREFIX=f"wagate-bench-{uuid.uuid4().hex[:8]}:c:",
        WAGATE_DATA_DIR=f"/tmp/wagate-bench-asgi-{uuid.uuid4().hex[:6]}",
    )
    app = create_app(Settings())
    async with app.router.lifespan_context(app):
        for i in range(INSTANCES):
            body = f'{{"name":"b{i}","engine":"simulator"}}'.encode()
            status, answer = await post(app, "/v1/instances", body)
            assert status == 201, answer

        async def caller(k: int, n: int) -> None:
            for j in range(n):
                path = f"/v1/instances/b{(k * 7 + j) % INSTANCES}/send/text"
                status, answer = await post(app, path, BODY, b"async=true")
                assert status == 202, (status, answer)

        await asyncio.gather(*(caller(k, 100) for k in range(CALLERS)))  # warm-up
        profiler = cProfile.Profile() if profile else None
        if profiler:
            profiler.enable()
        wall, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(caller(k, count // CALLERS) for k in range(CALLERS)))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        if profiler:
            profiler.disable()
            pstats.Stats(profiler).sort_stats(profile or "tottime").print_stats(40)
        done = count // CALLERS * CALLERS
        print(f"{done} async accepts: {done / wall:.0f}/s, CPU {1e6 * cpu / done:.0f} us/accept")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=6000)
    parser.add_argument("--profile", help="cProfile sort key (inflates the figures)")
    parser.add_argument("--embedded", action="store_true", help="SQLite and no Redis")
    args = parser.parse_args()
    if args.embedded:
        uvloop.run(run(None, args.count, args.profile))
        return
    with postgres_database() as database_url:
        uvloop.run(run(database_url, args.count, args.profile))


if __name__ == "__main__":
    main()
