"""RabbitMQ and NATS of the tests' own (tests/support/brokers.py), consumers that read back
what the sinks published, and fast sink timings."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aio_pika
import nats
import pytest

from tests.support.brokers import Nats, RabbitMQ

FAST: dict[str, Any] = {
    "sink_retry_base_delay_s": 0.05,
    "sink_retry_max_delay_s": 1.0,
    "sink_poll_interval_s": 0.05,
    "sink_publish_timeout_s": 3.0,
}


@pytest.fixture(scope="session")
def rabbitmq(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitMQ]:
    server = RabbitMQ(tmp_path_factory.mktemp("rabbitmq"))
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Nats]:
    server = Nats(tmp_path_factory.mktemp("nats"))
    try:
        server.start()
        yield server
    finally:
        server.close()


class Names:
    """An exchange, queue, stream and subject prefix of one test: tests share the servers."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:8]
        self.exchange = f"wagate-{tag}"
        self.queue = f"events-{tag}"
        self.stream = f"WAGATE{tag.upper()}"
        self.subject = f"t{tag}" + ".{instance}.{event}"


def broker_settings(
    names: Names, rabbitmq: RabbitMQ | None, nats_server: Nats | None, **more: Any
) -> dict[str, Any]:
    values: dict[str, Any] = dict(FAST)
    if rabbitmq is not None:
        values |= {
            "amqp_url": rabbitmq.url,
            "amqp_exchange": names.exchange,
            "amqp_queue": names.queue,
        }
    if nats_server is not None:
        values |= {
            "nats_url": nats_server.url,
            "nats_stream": names.stream,
            "nats_subject": names.subject,
        }
    return values | more


async def amqp_messages(url: str, queue_name: str) -> list[dict[str, Any]]:
    """Every message in the queue, in its order (taken off it)."""
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(queue_name, durable=True)
        found: list[dict[str, Any]] = []
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
            body = json.loads(message.body)
            assert message.message_id == body["id"]
            found.append({**body, "_key": message.routing_key})
        return found
    finally:
        await connection.close()


async def nats_messages(url: str, stream: str) -> list[dict[str, Any]]:
    """Every message of the stream, in its order."""
    client = await nats.connect(url)
    try:
        js = client.jetstream()
        info = await js.stream_info(stream)
        found: list[dict[str, Any]] = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            message = await js.get_msg(stream, seq)
            body = json.loads(message.data or b"")
            assert (message.headers or {}).get("Nats-Msg-Id") == body["id"]
            found.append({**body, "_key": message.subject})
        return found
    finally:
        await client.close()


def per_instance(events: list[dict[str, Any]]) -> dict[str, list[str]]:
    """The ids of each instance's events, in the order given, first occurrence only."""
    seen: set[str] = set()
    out: dict[str, list[str]] = {}
    for event in events:
        if event["id"] in seen:
            continue
        seen.add(event["id"])
        out.setdefault(event["instance"], []).append(event["id"])
    return out


def workdir(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.mkdir(parents=True, exist_ok=True)
    return path
