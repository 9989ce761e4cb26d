"""A broker that is down when the node starts: the node serves, the events wait in the outbox
(seen as lag, with the error and never the password), and go out once the broker is up."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.conftest import linked_instance, make_settings
from tests.integration.sinks.conftest import Names, amqp_messages, broker_settings
from tests.integration.sinks.test_delivery import drained
from tests.integration.webhooks.conftest import app_client, inbound
from tests.support.brokers import RabbitMQ
from tests.support.polling import eventually


async def test_events_wait_for_a_broker_down_at_start(sqlite_url: str, tmp_path: Path) -> None:
    rabbitmq = RabbitMQ(tmp_path / "rabbitmq")  # its port chosen, not started yet
    names = Names()
    password = "n0t-in-any-output"
    url = rabbitmq.url.replace("guest:guest", f"wagate:{password}")
    overrides = broker_settings(names, rabbitmq, None, amqp_url=url)
    settings = make_settings(sqlite_url, tmp_path / "data", **overrides)
    try:
        async with app_client(settings) as (_, client):
            name = (await linked_instance(client))["name"]
            await inbound(client, name, "while down")

            async def backlog() -> dict[str, object] | None:
                sinks = {s["name"]: s for s in (await client.get("/v1/sinks")).json()["sinks"]}
                amqp = sinks["amqp"]
                return amqp if amqp["pending"] >= 3 and amqp["last_error"] else None

            amqp = await eventually(backlog, timeout=15, what="a backlog with its error")
            assert amqp["connected"] is False
            assert password not in str(amqp) and "wagate:" not in str(amqp)
            metrics = (await client.get("/metrics")).text
            assert password not in metrics
            assert 'wagate_sink_connected{sink="amqp"} 0.0' in metrics
            # Up now, with a user who may log in: the waiting events go out.
            await asyncio.to_thread(rabbitmq.start)
            await _add_user(rabbitmq, "wagate", password)
            await drained(client, ("amqp",))
        got = await amqp_messages(rabbitmq.url, names.queue)
        texts = [e["data"].get("text") for e in got if e["event"] == "message_received"]
        assert texts == ["while down"]
    finally:
        rabbitmq.close()


async def _add_user(rabbitmq: RabbitMQ, user: str, password: str) -> None:
    env = rabbitmq.env()
    for command in (
        ["add_user", user, password],
        ["set_permissions", "-p", "/", user, ".*", ".*", ".*"],
    ):
        process = await asyncio.create_subprocess_exec(
            "/usr/lib/rabbitmq/bin/rabbitmqctl", *command, env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        _, err = await process.communicate()
        assert process.returncode == 0, err.decode()
