"""Webhook delivery throughput: N pending deliveries in the database, one receiver process on
loopback that answers 200 at once, the delivery worker of one node; prints deliveries/s.

    .venv/bin/python -m bench.webhooks --count 20000                      # SQLite file
    .venv/bin/python -m bench.webhooks --count 20000 --database-url postgresql+asyncpg://...

With `--via-bus`, the events are published through the event bus (the outbox writes the rows
while the worker delivers them) instead of being inserted beforehand.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop
from sqlalchemy import func, select

from wagate.config import Settings
from wagate.db import Database
from wagate.events.bus import EventBus
from wagate.events.payloads import MessageReceivedData
from wagate.migrate import upgrade_to_head
from wagate.models import Instance, WebhookAttempt, WebhookDelivery
from wagate.webhooks import repository
from wagate.webhooks.delivery import DeliveryWorker
from wagate.webhooks.outbox import Outbox, delivery_row

RECEIVER = """
import sys, uvicorn
count = 0
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
            access_log=False, lifespan="off", interface="asgi3")
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_port(port: int) -> None:
    for _ in range(200):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError("receiver did not start")


async def pending(db: Database) -> int:
    async with db.session() as session:
        query = select(func.count()).where(WebhookDelivery.status == "pending")
        return int(await session.scalar(query) or 0)


async def run(args: argparse.Namespace, url: str) -> dict[str, Any]:
    settings = Settings(
        _env_file=None,
        database_url=args.database_url,
        webhook_url=None,
        webhook_poll_interval_s=0.2,
        allow_private_webhook_urls=True,  # the receiver listens on 127.0.0.1
        # Where the worker's key file goes (WAGATE_SECRET_KEY unset): not the working directory.
        data_dir=Path(tempfile.mkdtemp(prefix="wagate-bench-data-")),
    )
    db = Database(args.database_url)
    async with db.transaction() as session:
        instance = Instance(
            name=f"bench-{time.time_ns()}",
            engine="simulator",
            token_hash=f"{time.time_ns():064d}",
            settings={},
            webhook={"url": url, "events": None, "secret": "bench-secret"},
        )
        session.add(instance)
    payload = '{"id":"evt_x","event":"message_received","instance":"bench","data":{"text":"hi"}}'
    worker = DeliveryWorker(settings, db)
    bus = EventBus()
    bus.add_sink(Outbox(settings, db, worker))
    if not args.via_bus:
        for start in range(0, args.count, 5000):
            rows = [
                delivery_row(
                    event_id=f"evt_{n}",
                    event="message_received",
                    instance_id=instance.id,
                    url=url,
                    target="instance",
                    payload=payload,
                )
                for n in range(start, min(args.count, start + 5000))
            ]
            async with db.transaction() as session:
                await repository.insert_deliveries(session, rows)
    started = time.perf_counter()
    cpu_started = time.process_time()
    await worker.start()
    if args.via_bus:
        data = MessageReceivedData(
            message_id="bench",
            chat="1@s.whatsapp.net",
            from_="1@s.whatsapp.net",
            from_me=False,
            timestamp="2026-01-01T00:00:00Z",
            kind="text",
            text="hi",
        )

        async def publisher(share: int) -> None:
            for _ in range(share):
                await bus.publish(instance.name, instance.id, data)

        publishers = 32
        await asyncio.gather(*(publisher(args.count // publishers) for _ in range(publishers)))
    while await pending(db) > 0:
        await asyncio.sleep(0.25)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    await worker.stop()
    async with db.session() as session:
        delivered = int(
            await session.scalar(select(func.count()).where(WebhookDelivery.status == "delivered"))
            or 0
        )
        # The tries not accepted (an accepted one is on its delivery row, not in this table).
        tries = await session.execute(
            select(WebhookAttempt.error, func.count()).group_by(WebhookAttempt.error)
        )
        errors = {str(error)[:60]: count for error, count in tries}
    await db.close()
    return {
        "delivered": delivered,
        "seconds": round(elapsed, 2),
        "per_s": int(delivered / elapsed),
        # This process's CPU per delivery (worker, database driver, event loop): on a machine
        # that others load too, 1000 / this is what one free core would do.
        "cpu_ms_per_delivery": round(cpu * 1000 / max(1, delivered), 3),
        "refused_tries_by_error": errors,
    }


async def baseline(url: str, count: int, concurrency: int) -> dict[str, Any]:
    """The same posts from a bare httpx loop (no database): what this machine allows."""
    import httpx

    body = b'{"id":"evt_x","event":"message_received","instance":"bench","data":{"text":"hi"}}'
    async with httpx.AsyncClient() as client:

        async def one(share: int) -> None:
            for _ in range(share):
                response = await client.post(url, content=body)
                response.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(one(count // concurrency) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"baseline_httpx_per_s": int(count // concurrency * concurrency / elapsed)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--via-bus", action="store_true")
    parser.add_argument("--baseline", action="store_true", help="also time a bare httpx loop")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.database_url is None:
            args.database_url = f"sqlite+aiosqlite:///{Path(tmp) / 'bench.db'}"
        port = free_port()
        receiver = subprocess.Popen([sys.executable, "-c", RECEIVER, str(port)])
        try:
            wait_port(port)
            upgrade_to_head(args.database_url)
            url = f"http://127.0.0.1:{port}/hook"
            result = uvloop.run(run(args, url))
            if args.baseline:
                result.update(uvloop.run(baseline(url, min(args.count, 5000), 16)))
        finally:
            receiver.terminate()
            receiver.wait()
    print(result)


if __name__ == "__main__":
    main()
