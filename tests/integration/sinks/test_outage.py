"""Both brokers stopped for 30 s under a send load, then started again: every event is
delivered, in order per instance; the duplicates are counted (NATS drops them by
Nats-Msg-Id: none reach its stream)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from pathlib import Path

import pytest

from tests.conftest import linked_instance, make_settings
from tests.integration.sinks.conftest import (
    Names,
    amqp_messages,
    broker_settings,
    nats_messages,
    per_instance,
)
from tests.integration.sinks.test_delivery import drained
from tests.integration.webhooks.conftest import app_client, inbound
from tests.support.brokers import Nats, RabbitMQ
from wagate.events.event import Event

OUTAGE_S = 30.0


@pytest.mark.slow
async def test_brokers_down_for_30_s_under_load(database_url: str, tmp_path: Path) -> None:
    rabbitmq = RabbitMQ(tmp_path / "rabbitmq")
    nats_server = Nats(tmp_path / "nats")
    names = Names()
    published: list[Event] = []
    try:
        rabbitmq.start()
        nats_server.start()
        settings = make_settings(
            database_url, tmp_path / "data", **broker_settings(names, rabbitmq, nats_server)
        )
        async with app_client(settings) as (app, client):
            app.state.wagate.bus.watch(published.append, "test")
            instances = [(await linked_instance(client))["name"] for _ in range(3)]
            sent = 0

            async def load() -> None:
                nonlocal sent
                while True:
                    for name in instances:
                        await inbound(client, name, f"load {sent}")
                        sent += 1
                    await asyncio.sleep(0.05)

            loader = asyncio.create_task(load())
            try:
                await asyncio.sleep(2)
                await asyncio.to_thread(rabbitmq.stop)
                await asyncio.to_thread(nats_server.stop)
                down_at = time.monotonic()
                await asyncio.sleep(OUTAGE_S)
                sinks = (await client.get("/v1/sinks")).json()["sinks"]
                during = {sink["name"]: sink for sink in sinks}
                await asyncio.to_thread(rabbitmq.start)
                await asyncio.to_thread(nats_server.start)
                assert time.monotonic() - down_at >= OUTAGE_S
                await asyncio.sleep(3)
            finally:
                loader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await loader
            # While down: a backlog that grew, seen as lag, and no connection.
            for name in ("amqp", "nats"):
                assert during[name]["pending"] > 0 and during[name]["lag_s"] > 10
                assert during[name]["connected"] is False
                assert during[name]["last_error"]
            await drained(client, ("amqp", "nats"))
            before_stop = {event.id for event in published}
            assert sent > 300
        amqp = await amqp_messages(rabbitmq.url, names.queue)
        found = await nats_messages(nats_server.url, names.stream)
    finally:
        rabbitmq.close()
        nats_server.close()
    everything = {event.id for event in published}
    for transport, got in (("amqp", amqp), ("nats", found)):
        ids = [event["id"] for event in got]
        duplicates = len(ids) - len(set(ids))
        print(f"{transport}: {len(set(ids))} events, {duplicates} duplicates")
        assert before_stop <= set(ids) <= everything, f"{transport} lost events"
        order = per_instance(
            [{"id": e.id, "instance": e.instance} for e in published if e.id in set(ids)]
        )
        assert per_instance(got) == order, f"{transport} out of order"
        if transport == "nats":
            assert duplicates == 0
