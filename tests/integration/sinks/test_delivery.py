"""Every event reaches RabbitMQ and NATS exactly once, in order per instance, through a real
app; the filters of event types apply; GET /v1/sinks and /metrics show the backlog."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.conftest import linked_instance, make_settings, wait_status
from tests.integration.sinks.conftest import (
    Names,
    amqp_messages,
    broker_settings,
    nats_messages,
    per_instance,
)
from tests.integration.webhooks.conftest import app_client, inbound
from tests.support.brokers import Nats, RabbitMQ
from tests.support.polling import eventually
from wagate.events.event import Event


async def drained(client: httpx.AsyncClient, names: tuple[str, ...]) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        response = await client.get("/v1/sinks")
        assert response.status_code == 200, response.text
        sinks = {sink["name"]: sink for sink in response.json()["sinks"]}
        done = all(sinks[name]["pending"] == 0 and sinks[name]["connected"] for name in names)
        return sinks if done else None

    return await eventually(check, timeout=30, interval=0.1, what="sinks drained")


async def test_every_event_reaches_each_sink_once(
    rabbitmq: RabbitMQ, nats_server: Nats, database_url: str, tmp_path: Path
) -> None:
    names = Names()
    settings = make_settings(
        database_url, tmp_path / "data", **broker_settings(names, rabbitmq, nats_server)
    )
    published: list[Event] = []
    async with app_client(settings) as (app, client):
        app.state.wagate.bus.watch(published.append, "test")
        first = (await linked_instance(client))["name"]
        second = (await linked_instance(client))["name"]
        for n in range(10):
            await inbound(client, first, f"first {n}")
            await inbound(client, second, f"second {n}")

        async def received() -> int | None:
            count = sum(event.event == "message_received" for event in published)
            return count if count == 20 else None

        await eventually(received, timeout=15, what="20 inbound messages published")
        sinks = await drained(client, ("amqp", "nats"))
        assert sinks["amqp"]["kind"] == sinks["nats"]["kind"] == "durable"
        assert str(rabbitmq.port) in sinks["amqp"]["target"]
        assert "guest" not in sinks["amqp"]["target"]
        assert sinks["webhooks"]["pending"] == 0 and sinks["streams"]["kind"] == "live"
        metrics = (await client.get("/metrics")).text
        assert 'wagate_sink_pending{sink="amqp"} 0.0' in metrics
        assert 'wagate_sink_connected{sink="nats"} 1.0' in metrics
        # The events up to here must be on the brokers; what the stop publishes (the
        # clients' disconnections) may be too, or wait in the outbox for the next start.
        before_stop = {event.id for event in published}

    for got in (
        await amqp_messages(rabbitmq.url, names.queue),
        await nats_messages(nats_server.url, names.stream),
    ):
        ids = [event["id"] for event in got]
        assert len(ids) == len(set(ids)), "an event was published twice"
        assert before_stop <= set(ids) <= {event.id for event in published}
        order = per_instance(
            [{"id": e.id, "instance": e.instance} for e in published if e.id in set(ids)]
        )
        assert per_instance(got) == order
        by_id = {event.id: event for event in published}
        for event in got:
            assert {k: v for k, v in event.items() if k != "_key"} == by_id[event["id"]].envelope()
            assert event["_key"].endswith(f".{event['instance']}.{event['event']}")


async def test_filters_of_event_types(
    rabbitmq: RabbitMQ, nats_server: Nats, database_url: str, tmp_path: Path
) -> None:
    names = Names()
    overrides = broker_settings(
        names, rabbitmq, nats_server, amqp_events="message_received", nats_events="qr_updated"
    )
    settings = make_settings(database_url, tmp_path / "data", **overrides)
    published: list[Event] = []
    async with app_client(settings) as (app, client):
        app.state.wagate.bus.watch(published.append, "test")
        name = (await linked_instance(client))["name"]
        await inbound(client, name, "hello")

        async def received() -> bool:
            return any(event.event == "message_received" for event in published)

        await eventually(received, timeout=15, what="the message received")
        await drained(client, ("amqp", "nats"))
        published = list(published)
    amqp = await amqp_messages(rabbitmq.url, names.queue)
    assert [event["event"] for event in amqp] == ["message_received"]
    assert amqp[0]["data"]["text"] == "hello"
    found = await nats_messages(nats_server.url, names.stream)
    qrs = [event.id for event in published if event.event == "qr_updated"]
    assert qrs and [event["id"] for event in found] == qrs


async def test_an_instances_own_filter(
    rabbitmq: RabbitMQ, nats_server: Nats, database_url: str, tmp_path: Path
) -> None:
    names = Names()
    settings = make_settings(
        database_url, tmp_path / "data", **broker_settings(names, rabbitmq, nats_server)
    )
    published: list[Event] = []
    async with app_client(settings) as (app, client):
        app.state.wagate.bus.watch(published.append, "test")
        picky = (await linked_instance(client))["name"]
        other = (await linked_instance(client))["name"]
        path = f"/v1/instances/{picky}/sinks/amqp"
        assert (await client.get(path)).json() == {"sink": "amqp", "events": None}
        response = await client.put(path, json={"events": ["message_received"]})
        assert response.status_code == 200, response.text
        assert response.json() == {"sink": "amqp", "events": ["message_received"]}
        assert (await client.get(path)).json()["events"] == ["message_received"]
        bad = await client.put(path, json={"events": ["no_such_event"]})
        assert bad.status_code == 422
        unknown = await client.put(f"/v1/instances/{picky}/sinks/kafka", json={"events": []})
        assert unknown.status_code == 422
        missing = await client.get("/v1/instances/nobody-here/sinks/amqp")
        assert missing.status_code == 404
        mark = len(published)
        await client.post(f"/v1/instances/{picky}/disconnect")
        await client.post(f"/v1/instances/{picky}/connect")
        await wait_status(client, picky, "connected")
        for name in (picky, other):
            await inbound(client, name, f"to {name}")

        async def received() -> bool:
            return sum(event.event == "message_received" for event in published) == 2

        await eventually(received, timeout=15, what="both messages received")
        await drained(client, ("amqp", "nats"))
        after = [event for event in published[mark:] if event.instance == picky]
        assert (await client.delete(path)).status_code == 204
        assert (await client.get(path)).json()["events"] is None
    amqp = await amqp_messages(rabbitmq.url, names.queue)
    picky_after = [e["event"] for e in amqp if e["id"] in {event.id for event in after}]
    assert picky_after == ["message_received"]
    assert any(e["instance"] == other and e["event"] == "message_received" for e in amqp)
    stream = {e["id"] for e in await nats_messages(nats_server.url, names.stream)}
    assert {event.id for event in after} <= stream
