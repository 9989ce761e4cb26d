"""Broker sink throughput: N events in the outbox, spread over some instances, published by
one node's worker to a RabbitMQ and a NATS server of the benchmark's own (started as in the
tests), beside the webhook figure (bench/webhooks.py) and the WebSocket figure
(bench/wsstream.py: the same events published on a node, counted by a consumer holding one
stream per instance) for the same count; prints events/s.

    .venv/bin/python -m bench.sinks --count 5000                         # SQLite files
    .venv/bin/python -m bench.sinks --count 5000 --database-url postgresql+asyncpg://...

Each instance's events go out one after the other (the next once the broker confirmed the
one before): the figure grows with --instances until the broker or the database is the limit.
With `--via-bus`, the events are published through the event bus while the worker runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop
from pydantic import SecretStr
from tests.support.brokers import Nats, RabbitMQ

from bench import webhooks, wsstream
from wagate.config import Settings
from wagate.db import Database, utcnow
from wagate.events.bus import EventBus
from wagate.events.payloads import MessageReceivedData
from wagate.logs import configure_logging
from wagate.migrate import upgrade_to_head
from wagate.sinks import repository
from wagate.sinks.amqp import AmqpTransport
from wagate.sinks.delivery import SinkWorker
from wagate.sinks.jetstream import NatsTransport
from wagate.sinks.outbox import BrokerOutbox
from wagate.sinks.transport import Transport

DATA = MessageReceivedData(
    message_id="bench",
    chat="1@s.whatsapp.net",
    from_="1@s.whatsapp.net",
    from_me=False,
    timestamp="2026-01-01T00:00:00Z",
    kind="text",
    text="hi",
)


async def pending(db: Database, sink: str) -> int:
    async with db.session() as session:
        return (await repository.stats(session, [sink]))[sink].pending


async def insert(db: Database, sink: str, count: int, instances: int) -> None:
    now = utcnow()
    for start in range(0, count, 5000):
        rows = []
        for n in range(start, min(count, start + 5000)):
            instance = n % instances
            body = {"id": f"evt_{n:032x}", "event": "message_received", "instance": f"b{instance}"}
            rows.append(
                repository.row(
                    sink,
                    event_id=body["id"],
                    instance_id=instance + 1,
                    instance=f"b{instance}",
                    event="message_received",
                    payload=json.dumps(body | {"data": {"text": "hi"}}),
                    now=now,
                )
            )
        async with db.transaction() as session:
            await repository.insert_rows(session, rows)


async def run(args: argparse.Namespace, database_url: str, transport: Transport) -> dict[str, Any]:
    settings = Settings(_env_file=None, database_url=database_url, sink_poll_interval_s=0.2)
    db = Database(database_url)
    worker = SinkWorker(settings, db, transport)
    outbox = BrokerOutbox(db, worker, None)
    bus = EventBus()
    bus.add_sink(outbox)
    if not args.via_bus:
        await insert(db, transport.name, args.count, args.instances)
    started = time.perf_counter()
    cpu_started = time.process_time()
    await bus.start()
    if args.via_bus:

        async def publisher(instance: int) -> None:
            for _ in range(args.count // args.instances):
                await bus.publish(f"b{instance}", instance + 1, DATA)

        await asyncio.gather(*(publisher(i) for i in range(args.instances)))
    while await pending(db, transport.name) > 0:
        await asyncio.sleep(0.1)
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    await bus.stop()
    await db.close()
    count = args.count // args.instances * args.instances if args.via_bus else args.count
    return {
        "delivered": count,
        "seconds": round(elapsed, 2),
        "per_s": int(count / elapsed),
        "cpu_ms_per_event": round(cpu * 1000 / max(1, count), 3),
    }


def fresh_database(args: argparse.Namespace, tmp: Path, name: str) -> str:
    url: str = args.database_url or f"sqlite+aiosqlite:///{tmp / f'{name}.db'}"
    upgrade_to_head(url)
    return url


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--instances", type=int, default=16)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--via-bus", action="store_true")
    parser.add_argument("--ws-port", type=int, default=0, help="the WebSocket node's port")
    args = parser.parse_args()
    configure_logging(Settings(_env_file=None, log_level="warning"))
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "rabbitmq").mkdir()
        (tmp / "nats").mkdir()
        rabbitmq, nats = RabbitMQ(tmp / "rabbitmq"), Nats(tmp / "nats")
        try:
            rabbitmq.start()
            nats.start()
            amqp = AmqpTransport(
                SecretStr(rabbitmq.url), "bench", "wagate.{instance}.{event}", queue="bench"
            )
            stream = NatsTransport(SecretStr(nats.url), "wagate.{instance}.{event}", "BENCH")
            for transport in (amqp, stream):
                url = fresh_database(args, tmp, transport.name)
                results[transport.name] = uvloop.run(run(args, url, transport))
        finally:
            rabbitmq.close()
            nats.close()
        port = webhooks.free_port()
        receiver = subprocess.Popen([sys.executable, "-c", webhooks.RECEIVER, str(port)])
        try:
            webhooks.wait_port(port)
            hook_url = fresh_database(args, tmp, "webhooks")
            hook_args = argparse.Namespace(
                count=args.count, via_bus=args.via_bus, database_url=hook_url
            )
            hook = uvloop.run(webhooks.run(hook_args, f"http://127.0.0.1:{port}/hook"))
            results["webhooks"] = {k: hook[k] for k in ("delivered", "seconds", "per_s")}
        finally:
            receiver.terminate()
            receiver.wait()
        # Live only: the events go through the node's bus (no outbox), --via-bus or not.
        ws_url = fresh_database(args, tmp, "websocket")
        results["websocket"] = uvloop.run(wsstream.run(args, ws_url, DATA))
    print(json.dumps({"count": args.count, "instances": args.instances, **results}, indent=1))


if __name__ == "__main__":
    main()
