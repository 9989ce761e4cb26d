"""Two nodes on one database never publish the same outbox row, and each instance's rows
still go out in order: an instance's rows are claimed together, behind its head."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import func, select

from tests.conftest import make_settings
from tests.integration.sinks.conftest import FAST, Names, amqp_messages, per_instance
from tests.support.brokers import RabbitMQ
from tests.support.polling import eventually
from wagate.db import Database, utcnow
from wagate.models import SinkDelivery
from wagate.sinks import repository
from wagate.sinks.amqp import AmqpTransport
from wagate.sinks.delivery import SinkWorker
from wagate.sinks.outbox import BrokerOutbox
from wagate.sinks.transport import Outgoing

INSTANCES = 8
PER_INSTANCE = 60


class Counting(AmqpTransport):
    """The real transport, noting which events this node published."""

    def __init__(self, url: str, names: Names, seen: list[str]) -> None:
        super().__init__(
            SecretStr(url), names.exchange, "wagate.{instance}.{event}", queue=names.queue
        )
        self.seen = seen

    async def publish(self, message: Outgoing) -> bool:
        self.seen.append(message.event_id)
        return await super().publish(message)


def _rows() -> list[dict[str, object]]:
    now = utcnow()
    rows: list[dict[str, object]] = []
    for n in range(PER_INSTANCE):
        for i in range(INSTANCES):
            event_id = f"evt_{i:02d}{n:030d}"
            body = {"id": event_id, "event": "message_received", "instance": f"i{i}", "n": n}
            rows.append(
                repository.row(
                    "amqp",
                    event_id=event_id,
                    instance_id=1000 + i,
                    instance=f"i{i}",
                    event="message_received",
                    payload=json.dumps(body),
                    now=now,
                )
            )
    return rows


async def test_two_nodes_never_publish_the_same_row(
    rabbitmq: RabbitMQ, database_url: str, tmp_path: Path
) -> None:
    names = Names()
    settings = make_settings(
        database_url,
        tmp_path / "data",
        **(FAST | {"sink_batch_size": 25, "sink_poll_interval_s": 0.01, "sink_retention_s": 0}),
    )
    db = Database(settings.effective_database_url)
    nodes: list[BrokerOutbox] = []
    published: list[list[str]] = [[], []]
    try:
        for index in range(2):
            transport = Counting(rabbitmq.url, names, published[index])
            nodes.append(BrokerOutbox(db, SinkWorker(settings, db, transport), None))
        # The first node connects (and declares the queue) before any row is due.
        await nodes[0].start()
        await eventually(_connected(nodes[0]), what="node 1 connected")
        async with db.autocommit() as connection:
            await repository.insert_rows(connection, _rows())
        await nodes[1].start()
        for node in nodes:
            node.worker.wake()

        async def drained() -> bool:
            return (await nodes[0].worker.stats()).pending == 0

        await eventually(drained, timeout=60, interval=0.1, what="every row delivered")
        # Delivered rows past the retention (none kept here) are deleted; nothing else is.
        await nodes[0].worker.cleanup()
        async with db.session() as session:
            left = await session.scalar(select(func.count()).select_from(SinkDelivery))
        assert left == 0
    finally:
        for node in nodes:
            await node.stop()
        await db.close()
    total = INSTANCES * PER_INSTANCE
    first, second = (set(ids) for ids in published)
    assert not first & second, "two nodes published the same row"
    assert len(first) + len(second) == total
    got = await amqp_messages(rabbitmq.url, names.queue)
    assert len(got) == total and len({event["id"] for event in got}) == total
    for instance, ids in per_instance(got).items():
        assert ids == sorted(ids), f"{instance} out of order"


def _connected(node: BrokerOutbox) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        return node.worker.transport.connected

    return check


async def test_a_failed_row_holds_the_rows_behind_it(
    rabbitmq: RabbitMQ, database_url: str, tmp_path: Path
) -> None:
    """The claim takes nothing of an instance whose head waits for its retry."""
    settings = make_settings(database_url, tmp_path / "data", **FAST)
    db = Database(settings.effective_database_url)
    try:
        async with db.autocommit() as connection:
            await repository.insert_rows(connection, _rows()[: INSTANCES * 2])
        now = utcnow()
        async with db.transaction() as session:
            claimed = await repository.claim_due(
                session, "amqp", now=now, lease_until=now + timedelta(minutes=1), limit=1000
            )
        assert len(claimed) == INSTANCES * 2
        head = claimed[0]
        retry = {
            "id": head.id,
            "claim_token": head.claim_token,
            "status": repository.PENDING,
            "attempts": 1,
            "last_error": "down",
            "next_attempt_at": now.replace(year=now.year + 1),
            "delivered_at": None,
        }
        async with db.transaction() as session:
            await repository.record_outcomes(session, [retry])
            await repository.release(session, claimed[1:], now)
        later = utcnow()
        async with db.transaction() as session:
            again = await repository.claim_due(
                session, "amqp", now=later, lease_until=later, limit=1000
            )
        assert {item.instance_id for item in again} == {item.instance_id for item in claimed} - {
            head.instance_id
        }
        async with db.session() as session:
            stats = (await repository.stats(session, ["amqp"]))["amqp"]
        assert stats.retrying == 1 and stats.last_error == "down"
        await asyncio.sleep(0)
    finally:
        await db.close()
