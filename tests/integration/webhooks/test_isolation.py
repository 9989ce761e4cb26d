"""One hanging receiver must not hold back another's events; a restart loses nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import free_port, linked_instance, make_settings, running_app
from tests.integration.webhooks.conftest import (
    FAST,
    Received,
    Receiver,
    app_client,
    deliveries,
    inbound,
)
from tests.support.polling import eventually
from wagate.config import Settings
from wagate.db import Database
from wagate.models import WebhookDelivery

TIMEOUT_S = 2.0


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {**FAST, "webhook_timeout_s": TIMEOUT_S, "webhook_concurrency_per_url": 2}


async def test_hanging_receiver_does_not_delay_another(
    client: httpx.AsyncClient, receivers: Callable[[], Awaitable[Receiver]]
) -> None:
    hanging, healthy = await receivers(), await receivers()

    async def hang(_: Received) -> int:
        await asyncio.sleep(30)
        return 200

    hanging.respond = hang
    slow = await linked_instance(
        client, webhook={"url": hanging.url, "events": ["message_received"]}
    )
    fast = await linked_instance(
        client, webhook={"url": healthy.url, "events": ["message_received"]}
    )
    for n in range(12):
        await inbound(client, slow["name"], f"stuck {n}")
    await hanging.wait_for(lambda r: len(r.requests) >= 2)

    # The hanging URL always has every slot it may use (its rows are retried as others time
    # out), yet the other receiver gets each event without waiting for any of those timeouts.
    for n in range(5):
        sent = time.monotonic()
        await inbound(client, fast["name"], f"fresh {n}")
        await healthy.wait_for(lambda r, n=n: len(r.requests) == n + 1, timeout=TIMEOUT_S)
        assert healthy.requests[-1].at - sent < TIMEOUT_S * 0.75

    async def timed_out() -> bool:
        items = await deliveries(client, slow["name"])
        return sum(d["attempts"] for d in items) >= 4

    await eventually(timed_out, timeout=4 * TIMEOUT_S, what="four timed-out tries recorded")
    # Every try at the hanging URL was cut off after one timeout, and never more than its
    # two slots were in use at once (from the attempt records: start and duration).
    edges: list[tuple[float, int]] = []
    for item in await deliveries(client, slow["name"]):
        path = f"/v1/instances/{slow['name']}/webhook/deliveries/{item['id']}"
        for attempt in (await client.get(path)).json()["history"]:
            assert attempt["status_code"] is None and "timed out" in attempt["error"]
            assert TIMEOUT_S * 1000 * 0.9 <= attempt["duration_ms"] < TIMEOUT_S * 1000 * 2
            start = datetime.fromisoformat(attempt["attempted_at"]).timestamp()
            edges += [(start, 1), (start + attempt["duration_ms"] / 1000, -1)]
    assert len(edges) >= 4
    in_use = peak = 0
    for _, step in sorted(edges, key=lambda edge: (edge[0], edge[1])):
        in_use += step
        peak = max(peak, in_use)
    assert peak <= 2


async def _event_ids(settings: Settings) -> tuple[set[str], set[str]]:
    """All event ids with a delivery row, and those delivered."""
    db = Database(settings.effective_database_url)
    try:
        async with db.session() as session:
            rows = (await session.execute(select(WebhookDelivery))).scalars().all()
    finally:
        await db.close()
    return {r.event_id for r in rows}, {r.event_id for r in rows if r.status == "delivered"}


async def test_receiver_down_across_a_gateway_restart(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    receiver = Receiver(port)
    settings = make_settings(database_url, tmp_path / "data", **FAST)
    async with app_client(settings) as (_, client):
        linked = await linked_instance(client, webhook={"url": receiver.url})
        name = linked["name"]
        for n in range(5):
            await inbound(client, name, f"while down {n}")

        async def all_tried() -> bool:
            # Every inbound message's event is written (they are handled one after another,
            # after the simulator answered) and every delivery was tried.
            items = await deliveries(client, name)
            received = sum(d["event"] == "message_received" for d in items)
            return received == 5 and all(d["attempts"] >= 1 for d in items)

        await eventually(all_tried, what="every delivery tried once")
        assert all(d["status"] == "pending" for d in await deliveries(client, name))
    written, delivered = await _event_ids(settings)
    assert len(written) >= 8 and not delivered

    await receiver.start()
    try:
        restarted = make_settings(database_url, tmp_path / "data", **FAST)
        async with running_app(restarted):

            async def everything_arrived() -> bool:
                return written <= {e["id"] for e in receiver.events()}

            await eventually(everything_arrived, timeout=15, what="every event after restart")
            texts = {e["data"]["text"] for e in receiver.events("message_received")}
            assert texts == {f"while down {n}" for n in range(5)}
    finally:
        await receiver.stop()
    _, delivered = await _event_ids(settings)
    assert written <= delivered


async def test_stop_hands_back_posts_in_flight(database_url: str, tmp_path: Path) -> None:
    """A post cut off by shutdown is not lost: the next start sends it again."""
    receiver = Receiver()
    await receiver.start()
    hanging = True

    async def answer(_: Received) -> int:
        if hanging:
            await asyncio.sleep(30)
        return 200

    receiver.respond = answer
    overrides = {**FAST, "webhook_timeout_s": 30.0}
    settings = make_settings(database_url, tmp_path / "data", **overrides)
    try:
        async with app_client(settings) as (app, client):
            linked = await linked_instance(
                client, webhook={"url": receiver.url, "events": ["message_received"]}
            )
            await inbound(client, linked["name"], "cut off")
            await receiver.wait_for(lambda r: len(r.requests) == 1)
            # Keep shutdown short: the worker waits one timeout for posts in flight.
            app.state.wagate.webhooks.timeout = 0.2
        hanging = False
        async with running_app(settings):
            await receiver.wait_for(lambda r: len(r.requests) == 2, timeout=10)
        assert receiver.requests[0].body == receiver.requests[1].body
    finally:
        await receiver.stop()


async def test_pending_global_deliveries_follow_a_new_global_url(
    database_url: str, tmp_path: Path, receiver: Receiver
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/old"
    first = make_settings(
        database_url, tmp_path / "data", webhook_url=dead, webhook_events="message_received", **FAST
    )
    async with app_client(first) as (_, client):
        linked = await linked_instance(client)
        for n in range(3):
            await inbound(client, linked["name"], f"moved {n}")

        async def tried() -> bool:
            items = await deliveries(client, linked["name"])
            return len(items) == 3 and all(d["attempts"] >= 1 for d in items)

        await eventually(tried, what="three failed tries at the old URL")
    second = make_settings(
        database_url,
        tmp_path / "data",
        webhook_url=receiver.url,
        webhook_events="message_received",
        **FAST,
    )
    async with running_app(second):
        await receiver.wait_for(lambda r: len(r.events("message_received")) == 3)
    texts = sorted(e["data"]["text"] for e in receiver.events())
    assert texts == [f"moved {n}" for n in range(3)]
