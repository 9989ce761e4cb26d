"""The outbox hands the rows it writes to this node's delivery worker: the rows a lane has
room for are written already claimed and posted without a claim; the rest wait in the table
for one, and new rows for their URL do not pass them. A worker that stops before it adopts
its rows hands them back as due; a write that fails frees the room it reserved. On both
databases, against a real receiver."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import make_settings
from tests.integration.webhooks.conftest import Received, Receiver
from tests.support.polling import eventually
from wagate.db import Database, utcnow
from wagate.events.event import Event
from wagate.models import Instance, WebhookDelivery
from wagate.webhooks import repository
from wagate.webhooks.delivery import DeliveryWorker
from wagate.webhooks.outbox import Outbox, delivery_row

# Rows the tests hand over but never post (the worker is stopped or the test ends first).
NOWHERE = "http://127.0.0.1:9/hook"


@dataclass
class Node:
    db: Database
    worker: DeliveryWorker
    outbox: Outbox
    instance_id: int


@pytest.fixture
async def gate() -> asyncio.Event:
    return asyncio.Event()


@pytest.fixture
async def held_receiver(receiver: Receiver, gate: asyncio.Event) -> Receiver:
    """The receiver answers once the test opens the gate."""

    async def wait(_: Received) -> int:
        await gate.wait()
        return 200

    receiver.respond = wait
    return receiver


async def _node(database_url: str, tmp_path: Path, url: str, **settings: object) -> Node:
    values = {"webhook_poll_interval_s": 30.0, "webhook_timeout_s": 5.0, **settings}
    config = make_settings(database_url, tmp_path, **values)
    db = Database(database_url)
    async with db.transaction() as session:
        row = Instance(
            name="handoff",
            engine="simulator",
            token_hash="h" * 64,
            settings={},
            webhook={"url": url, "events": None},
        )
        session.add(row)
    worker = DeliveryWorker(config, db)
    await worker.start()
    return Node(db, worker, Outbox(config, db, worker), row.id)


@pytest.fixture
async def make_node(
    database_url: str, tmp_path: Path, held_receiver: Receiver
) -> AsyncIterator[Callable[..., Awaitable[Node]]]:
    made: list[Node] = []

    async def make(**settings: object) -> Node:
        made.append(await _node(database_url, tmp_path, held_receiver.url, **settings))
        return made[-1]

    yield make
    for item in made:
        await item.worker.stop()
        await item.db.close()


@pytest.fixture
def claimed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The ids of the rows the worker claimed from the table (not handed over)."""
    taken: list[str] = []
    claim_due = repository.claim_due

    async def counted(*args: Any, **kwargs: Any) -> list[repository.Claimed]:
        found = await claim_due(*args, **kwargs)
        taken.extend(item.id for item in found)
        return found

    monkeypatch.setattr(repository, "claim_due", counted)
    return taken


@pytest.fixture
async def node(make_node: Callable[..., Awaitable[Node]]) -> Node:
    return await make_node()


def _row(node: Node, n: int, url: str) -> dict[str, Any]:
    return delivery_row(
        event_id=f"evt_{n}",
        event="message_received",
        instance_id=node.instance_id,
        url=url,
        target="instance",
        payload="{}",
    )


def _event(node: Node, n: int) -> Event:
    return Event(f"evt_{n}", "message_received", "handoff", node.instance_id, utcnow(), {"n": n})


async def _rows(node: Node) -> list[WebhookDelivery]:
    async with node.db.session() as session:
        found = await session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id))
        return list(found)


async def _all_delivered(node: Node, count: int) -> None:
    async def done() -> bool:
        rows = await _rows(node)
        return len(rows) == count and all(row.status == "delivered" for row in rows)

    await eventually(done, timeout=15, what=f"{count} deliveries delivered")


async def test_rows_with_room_are_posted_without_a_claim(
    node: Node, held_receiver: Receiver, gate: asyncio.Event, claimed: list[str]
) -> None:
    # The claim loop polls every 30 s and nothing wakes it: only the handoff posts in time.
    await asyncio.gather(*(node.outbox.deliver(_event(node, n)) for n in range(5)))
    await held_receiver.wait_for(lambda r: len(r.requests) == 5)
    rows = await _rows(node)
    assert len(rows) == 5
    assert all(row.claim_token for row in rows)  # written claimed, by this worker
    lease_end = utcnow() + node.worker.lease
    assert all(
        row.claimed_until and row.claimed_until > lease_end - node.worker.lease / 2 for row in rows
    )
    gate.set()
    await _all_delivered(node, 5)
    assert len(held_receiver.requests) == 5  # each once
    assert claimed == []


async def test_rows_past_the_lanes_room_wait_for_a_claim(
    make_node: Callable[..., Awaitable[Node]],
    held_receiver: Receiver,
    gate: asyncio.Event,
    claimed: list[str],
) -> None:
    node = await make_node(
        webhook_concurrency_per_url=1, webhook_max_in_flight=16, webhook_poll_interval_s=0.05
    )
    backlog = node.worker.backlog  # what one lane holds
    assert backlog == 8  # half of what the node holds
    await node.outbox.deliver(_event(node, 0))  # the lane's first row, posting and held
    await held_receiver.wait_for(lambda r: len(r.requests) == 1)
    await asyncio.gather(*(node.outbox.deliver(_event(node, n)) for n in range(1, backlog + 4)))
    rows = await _rows(node)
    assert len(rows) == backlog + 4
    gate.set()
    await _all_delivered(node, backlog + 4)
    assert len(held_receiver.requests) == backlog + 4
    # The lane's room (its backlog, the first row included) was handed over; only the rest
    # were claimed, once room freed up.
    assert len(claimed) == 4


async def test_new_rows_do_not_pass_rows_waiting_in_the_table(node: Node) -> None:
    url = NOWHERE
    node.worker.left_in_table({url})  # a write found no room: its rows wait for a claim
    assert node.worker.reserve([_row(node, 1, url)]) == []  # room, but not ahead of them
    assert len(node.worker.reserve([_row(node, 2, "http://127.0.0.1:9/other")])) == 1
    assert await node.worker.claim_batch(10) == 0  # the table has nothing due: they are gone
    assert len(node.worker.reserve([_row(node, 3, url)])) == 1


async def test_a_stopping_worker_hands_its_rows_back(node: Node) -> None:
    rows = [_row(node, n, NOWHERE) for n in range(3)]
    handed = node.worker.reserve(rows)
    assert handed == rows and all(row["claim_token"] for row in rows)
    async with node.db.autocommit() as connection:
        await repository.insert_deliveries(connection, rows)
    await node.worker.stop()
    await node.worker.adopt(handed, {})
    found = await _rows(node)
    assert [row.claim_token for row in found] == [None] * 3
    assert [row.claimed_until for row in found] == [None] * 3
    assert all(row.next_attempt_at and row.next_attempt_at <= utcnow() for row in found)
    assert node.worker.reserve(rows) == []  # a stopped worker takes nothing


async def test_a_failed_write_frees_the_room_it_reserved(node: Node) -> None:
    rows = [_row(node, 0, NOWHERE)]
    room = node.worker._widest_room()
    assert node.worker.reserve(rows) == rows
    assert node.worker._held == 1
    node.worker.unreserve(rows)
    assert node.worker._held == 0 and node.worker._lanes == {}
    assert node.worker._widest_room() == room


async def test_a_lane_holds_half_of_what_the_node_holds(node: Node) -> None:
    # A receiver's posts fall behind a sustained load by hundreds of rows: the lane keeps
    # them (written claimed) rather than leaving them to a claim, up to half of the node's
    # rows; the other half stays for other URLs.
    half = node.worker.settings.webhook_max_in_flight // 2
    rows = [_row(node, n, NOWHERE) for n in range(half + 3)]
    assert len(node.worker.reserve(rows)) == half
    other = [_row(node, n, "http://127.0.0.1:9/other") for n in range(3)]
    assert len(node.worker.reserve(other)) == 3


async def test_a_row_whose_lease_would_run_out_is_not_posted(
    node: Node, held_receiver: Receiver, gate: asyncio.Event, claimed: list[str]
) -> None:
    """A row that waited in its lane until its lease could end during the post is left to
    its lease, untried: another node may claim it once the lease ran out, and the post would
    then be made twice. Once the lease ran out it is claimed again and posted once."""
    soon = [_row(node, n, held_receiver.url) for n in range(2)]
    handed = node.worker.reserve(soon)
    assert handed == soon
    for row in soon:  # as if they had waited in the lane for most of their lease
        row["claimed_until"] = utcnow() + timedelta(seconds=1)
    async with node.db.autocommit() as connection:
        await repository.insert_deliveries(connection, soon)
    await node.worker.adopt(handed, {node.instance_id: {"url": held_receiver.url}})
    assert node.worker._held == 0
    await asyncio.sleep(0.2)
    assert held_receiver.requests == []
    assert [row.status for row in await _rows(node)] == ["pending"] * 2
    gate.set()
    await asyncio.sleep(1.0)  # the lease ran out: the poll's claim takes them again
    await node.worker.claim_batch(10)
    await _all_delivered(node, 2)
    assert sorted(claimed) == sorted(row["id"] for row in soon)
    assert len(held_receiver.requests) == 2  # each once
