"""The sender of one instance's queue on its own (no app, no pool): a real SQLite database,
event bus, client manager, simulator engine, embedded queue and outcomes waiter
(tests/support/node.py)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_settings
from tests.support import rows
from tests.support.node import Node, node
from tests.support.polling import eventually
from wagate.engine_failures import NotConnectedError
from wagate.engines.ownership import LocalOwnership
from wagate.engines.simulator.engine import SimulatorClient, outbox
from wagate.events.bus import Event
from wagate.message_status import FINAL, MessageStatus
from wagate.models import Message
from wagate.worker.sender import InstanceSender

ABSENT = "5511900000000"  # not on WhatsApp, by the simulator's rule


@pytest.fixture
async def here(sqlite_url: str, tmp_path: Path) -> AsyncIterator[Node]:
    settings = make_settings(
        sqlite_url, tmp_path / "data", send_retry_base_s=0.05, send_retry_max_s=0.1
    )
    async with node(settings) as made:
        yield made


@pytest.fixture
async def running(here: Node) -> AsyncIterator[tuple[str, int, InstanceSender]]:
    """A linked instance and its sender, running."""
    name, instance_id = await here.linked_instance()
    sender = InstanceSender(here.state, here.queue, here.outcomes, name)
    task = asyncio.create_task(sender.run())
    try:
        yield name, instance_id, sender
    finally:
        sender.stop()
        await asyncio.wait_for(task, 10)


async def final(here: Node, pks: Sequence[int]) -> list[Message]:
    """The rows of `pks` once every one has its outcome."""

    async def done() -> list[Message] | None:
        found = await rows.messages(here.db, pks)
        return found if all(row.status in FINAL for row in found) else None

    return await eventually(done, what="outcomes", seen=lambda: pks)


async def sent_texts(here: Node, instance_id: int) -> list[Any]:
    return [item.body.get("text") for item in await outbox(here.db, instance_id)]


async def test_messages_are_sent_in_order_recorded_announced_and_acknowledged(
    here: Node, running: tuple[str, int, InstanceSender]
) -> None:
    name, instance_id, _ = running
    pks = await rows.add_messages(here.db, instance_id, 5)
    [third] = await rows.messages(here.db, pks[2:3])
    waiter = here.outcomes.expect(third.correlation_id)  # a sync caller
    events: list[Event] = []
    here.state.bus.watch(events.append)
    await here.queue.enqueue(name, pks)

    found = await final(here, pks)
    assert [row.status for row in found] == [MessageStatus.SENT] * 5
    assert all(row.message_id and row.attempts == 1 and row.sent_at for row in found)
    assert await sent_texts(here, instance_id) == [f"message {n}" for n in range(5)]
    outcome = await asyncio.wait_for(waiter, 5)
    assert outcome.status == MessageStatus.SENT and outcome.message_id == found[2].message_id

    async def announced() -> list[Event]:
        return [e for e in events if e.event == "message_ack"][:5] if len(events) >= 5 else []

    acks = await eventually(announced)
    assert [e.data["correlation_id"] for e in acks] == [row.correlation_id for row in found]
    assert {e.data["status"] for e in acks} == {"sent"}
    assert await here.queue.contained(name) == set()  # every entry acknowledged


async def test_a_permanent_failure_fails_at_once_and_the_next_one_goes(
    here: Node, running: tuple[str, int, InstanceSender]
) -> None:
    name, instance_id, _ = running
    [bad] = await rows.add_messages(here.db, instance_id, 1, to=ABSENT)
    [good] = await rows.add_messages(here.db, instance_id, 1)
    await here.queue.enqueue(name, [bad, good])
    failed, sent = await final(here, [bad, good])
    assert failed.status == MessageStatus.FAILED and failed.dead_lettered
    assert failed.error is not None and failed.error["code"] == "not_on_whatsapp"
    assert failed.attempts == 1 and failed.failed_at is not None
    assert sent.status == MessageStatus.SENT


async def test_a_transient_failure_is_retried_in_place_keeping_the_order(
    here: Node, running: tuple[str, int, InstanceSender]
) -> None:
    name, instance_id, _ = running
    here.engine.faults_of(instance_id).fail_next = 1
    pks = await rows.add_messages(here.db, instance_id, 2)
    await here.queue.enqueue(name, pks)
    first, second = await final(here, pks)
    assert (first.status, first.attempts, first.error) == (MessageStatus.SENT, 2, None)
    assert (second.status, second.attempts) == (MessageStatus.SENT, 1)
    assert await sent_texts(here, instance_id) == ["message 0", "message 1"]


async def test_transient_failures_past_the_attempts_fail_the_message(
    here: Node, running: tuple[str, int, InstanceSender]
) -> None:
    name, instance_id, _ = running
    here.engine.faults_of(instance_id).fail_next = 10
    [pk] = await rows.add_messages(here.db, instance_id, 1, max_attempts=2)
    await here.queue.enqueue(name, [pk])
    [row] = await final(here, [pk])
    assert (row.status, row.attempts, row.dead_lettered) == (MessageStatus.FAILED, 2, True)
    assert row.error is not None and row.error["code"] == "engine_error"


async def test_a_final_message_is_not_sent_again(
    here: Node, running: tuple[str, int, InstanceSender]
) -> None:
    name, instance_id, _ = running
    done_already, fresh = await rows.add_messages(here.db, instance_id, 2)
    await rows.set_status(here.db, [done_already], MessageStatus.SENT)
    await here.queue.enqueue(name, [done_already, fresh, fresh])  # a redelivery, a duplicate
    await final(here, [fresh])

    async def acknowledged() -> bool:
        return await here.queue.contained(name) == set()

    await eventually(acknowledged)
    assert await sent_texts(here, instance_id) == ["message 1"]


async def test_the_instance_pace_spaces_the_sends(here: Node) -> None:
    name, instance_id = await here.linked_instance(settings={"send_interval_ms": 200})
    sender = InstanceSender(here.state, here.queue, here.outcomes, name)
    task = asyncio.create_task(sender.run())
    try:
        pks = await rows.add_messages(here.db, instance_id, 3)
        await here.queue.enqueue(name, pks)
        sent = [item.sent_at for item in await outbox_after(here, instance_id, 3)]
        gaps = [(later - earlier).total_seconds() for earlier, later in pairwise(sent)]
        assert min(gaps) >= 0.18
    finally:
        sender.stop()
        await asyncio.wait_for(task, 10)


async def outbox_after(here: Node, instance_id: int, count: int) -> list[Any]:
    async def enough() -> list[Any]:
        found = await outbox(here.db, instance_id)
        return found if len(found) >= count else []

    return await eventually(enough)


async def test_queued_sends_wait_for_the_connection_without_spending_attempts(
    here: Node,
) -> None:
    name = "waits"
    instance_id = await rows.add_instance(here.db, name)
    await here.state.manager.connect(name)  # pairing: not connected yet
    sender = InstanceSender(here.state, here.queue, here.outcomes, name)
    task = asyncio.create_task(sender.run())
    try:
        pks = await rows.add_messages(here.db, instance_id, 2)
        await here.queue.enqueue(name, pks)
        await asyncio.sleep(0.5)
        assert [(r.status, r.attempts) for r in await rows.messages(here.db, pks)] == [
            (MessageStatus.QUEUED, 0)
        ] * 2
        client = here.state.manager.live_client(name)
        assert isinstance(client, SimulatorClient)
        await client.scan(None)
        assert [row.attempts for row in await final(here, pks)] == [1, 1]
    finally:
        sender.stop()
        await asyncio.wait_for(task, 10)


async def test_stopping_ends_the_run_and_leaves_the_rest_queued(here: Node) -> None:
    name, instance_id = await here.linked_instance()
    sender = InstanceSender(here.state, here.queue, here.outcomes, name)
    task = asyncio.create_task(sender.run())
    await asyncio.sleep(0.1)
    sender.stop()
    started = time.monotonic()
    await asyncio.wait_for(task, 10)
    assert time.monotonic() - started < 1.0  # woken at once, not after its idle wait
    pks = await rows.add_messages(here.db, instance_id, 1)
    await here.queue.enqueue(name, pks)
    await asyncio.sleep(0.2)
    assert await here.queue.contained(name) == set(pks)
    assert [row.status for row in await rows.messages(here.db, pks)] == [MessageStatus.QUEUED]


async def test_the_run_ends_when_the_instance_is_not_on_this_node(here: Node) -> None:
    sender = InstanceSender(here.state, here.queue, here.outcomes, "elsewhere")
    await asyncio.wait_for(sender.run(), 2)
    assert here.state.manager.status_of("elsewhere") is None


class LostLease(LocalOwnership):
    """This node's lease on every instance has just gone to another node (cluster mode)."""

    def fencing_token(self, name: str) -> int | None:
        return None


async def test_a_node_that_lost_the_lease_sends_nothing_more_and_acks_nothing(
    here: Node, running: tuple[str, int, InstanceSender]
) -> None:
    name, instance_id, _ = running
    here.state.manager.ownership = LostLease()
    pks = await rows.add_messages(here.db, instance_id, 2)
    await here.queue.enqueue(name, pks)

    async def claimed() -> bool:
        return MessageStatus.SENDING in [r.status for r in await rows.messages(here.db, pks)]

    await eventually(claimed)
    await asyncio.sleep(0.3)
    assert await outbox(here.db, instance_id) == []
    assert MessageStatus.FAILED not in [r.status for r in await rows.messages(here.db, pks)]
    assert await here.queue.contained(name) == set(pks)  # left for the new holder


async def test_a_send_waiting_for_the_connection_ends_when_the_instance_leaves_the_node(
    here: Node,
) -> None:
    """The connection drops during a send and the instance then leaves this node (its lease
    went): the sender ends and leaves the message queued for the new holder, rather than
    waiting on a connection no client here will make."""
    name, instance_id = await here.linked_instance()
    client = here.state.manager.connected_client(name)
    assert isinstance(client, SimulatorClient)

    async def dropped(action: Any, request: Any) -> Any:
        await here.state.manager.release(name)
        raise NotConnectedError(f"instance '{name}' is not connected")

    client.call = dropped  # type: ignore[method-assign]
    sender = InstanceSender(here.state, here.queue, here.outcomes, name)
    # A thread, not the loop: a sender that spins without suspending never lets the loop run.
    backstop = threading.Timer(5, lambda: setattr(sender, "stopping", True))
    backstop.start()
    try:
        pks = await rows.add_messages(here.db, instance_id, 1)
        await here.queue.enqueue(name, pks)
        started = time.monotonic()
        await asyncio.wait_for(sender.run(), 10)
        assert not sender.stopping, "the sender waited until it was told to stop"
        assert time.monotonic() - started < 3
    finally:
        backstop.cancel()
    assert [row.status for row in await rows.messages(here.db, pks)] == [MessageStatus.QUEUED]
    assert await here.queue.contained(name) == set(pks)  # left for the new holder
    assert await outbox(here.db, instance_id) == []


@pytest.fixture
async def on_both(database_url: str, tmp_path: Path) -> AsyncIterator[Node]:
    """`here` on SQLite and on PostgreSQL (the sender's write differs between them)."""
    async with node(make_settings(database_url, tmp_path / "data")) as made:
        yield made


async def test_each_send_is_recorded_before_the_next_engine_call(on_both: Node) -> None:
    """What a crash can leave ambiguous is the message in flight alone: at each engine call
    the sends before it are recorded `sent`, the one in flight is `sending` and the rest of
    the chunk is still `queued` (not claimed, so it stays revocable)."""
    here = on_both
    name, instance_id = await here.linked_instance()
    pks = await rows.add_messages(here.db, instance_id, 4)
    client = here.state.manager.connected_client(name)
    assert isinstance(client, SimulatorClient)
    seen: list[list[str]] = []
    engine_call = client.call

    async def observed(action: Any, request: Any) -> Any:
        seen.append([row.status for row in await rows.messages(here.db, pks)])
        return await engine_call(action, request)

    client.call = observed  # type: ignore[method-assign]
    sender = InstanceSender(here.state, here.queue, here.outcomes, name)
    task = asyncio.create_task(sender.run())
    try:
        await here.queue.enqueue(name, pks)
        assert [row.status for row in await final(here, pks)] == [MessageStatus.SENT] * 4
    finally:
        sender.stop()
        await asyncio.wait_for(task, 10)
    sent, sending, queued = MessageStatus.SENT, MessageStatus.SENDING, MessageStatus.QUEUED
    assert seen == [
        [sending, queued, queued, queued],
        [sent, sending, queued, queued],
        [sent, sent, sending, queued],
        [sent, sent, sent, sending],
    ]
    assert await sent_texts(here, instance_id) == [f"message {n}" for n in range(4)]
