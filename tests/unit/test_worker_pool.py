"""The worker pool of a node on its own: one sender per instance whose client lives here,
started by `ensure` or found by the scan, and a close that lets the send in hand finish."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import make_settings
from tests.support import rows
from tests.support.node import Node, node
from tests.support.polling import eventually
from wagate.message_status import MessageStatus
from wagate.worker.pool import WorkerPool


@pytest.fixture
async def here(sqlite_url: str, tmp_path: Path) -> AsyncIterator[Node]:
    async with node(make_settings(sqlite_url, tmp_path / "data")) as made:
        yield made


@pytest.fixture
async def pool(here: Node) -> AsyncIterator[WorkerPool]:
    made = WorkerPool(here.state, here.queue, here.outcomes)
    try:
        yield made
    finally:
        await made.close()


async def statuses(here: Node, pks: list[int]) -> list[str]:
    return [row.status for row in await rows.messages(here.db, pks)]


async def all_sent(here: Node, pks: list[int]) -> None:
    async def sent() -> bool:
        return await statuses(here, pks) == [MessageStatus.SENT] * len(pks)

    await eventually(sent, what="sent", seen=lambda: pks)


async def test_ensure_runs_one_sender_per_instance_held_here(here: Node, pool: WorkerPool) -> None:
    name, instance_id = await here.linked_instance()
    pool.ensure(name)
    task = pool.tasks[name]
    pool.ensure(name)  # already running: not a second one
    assert pool.tasks[name] is task and len(pool.tasks) == 1
    pool.ensure("not-here")  # no client on this node: nobody sends for it here
    assert "not-here" not in pool.tasks

    pks = await rows.add_messages(here.db, instance_id, 3)
    await here.queue.enqueue(name, pks)
    await all_sent(here, pks)


async def test_a_sender_that_ended_is_started_again(here: Node, pool: WorkerPool) -> None:
    name, instance_id = await here.linked_instance()
    pool.ensure(name)
    first = pool.tasks[name]
    pool.senders[name].stop()
    await asyncio.wait_for(first, 10)
    pool.ensure(name)
    assert pool.tasks[name] is not first
    pks = await rows.add_messages(here.db, instance_id, 1)
    await here.queue.enqueue(name, pks)
    await all_sent(here, pks)


async def test_the_scan_finds_the_instances_this_node_holds(here: Node, pool: WorkerPool) -> None:
    name, instance_id = await here.linked_instance()  # its row now names this node
    pool.start()
    pks = await rows.add_messages(here.db, instance_id, 2)
    await here.queue.enqueue(name, pks)  # nobody called ensure
    await all_sent(here, pks)
    assert set(pool.tasks) == {name}


async def test_an_instance_that_comes_gets_its_sender_at_once(here: Node, pool: WorkerPool) -> None:
    pool.start()
    await asyncio.sleep(0.1)  # the scan at start found nothing; the next is seconds away
    name, instance_id = await here.linked_instance()
    assert name in pool.tasks  # started as its client came, not by the scan
    pks = await rows.add_messages(here.db, instance_id, 1)
    await here.queue.enqueue(name, pks)
    await all_sent(here, pks)


async def test_a_waiting_sender_takes_nothing_once_its_instance_disconnects(
    here: Node, pool: WorkerPool
) -> None:
    name, instance_id = await here.linked_instance()
    pool.ensure(name)
    await asyncio.sleep(0.2)  # the sender waits on its queue
    await here.state.manager.disconnect(name)
    pks = await rows.add_messages(here.db, instance_id, 1)
    (before,) = await rows.messages(here.db, pks)
    await here.queue.enqueue(name, pks)
    await asyncio.sleep(0.5)
    # Woken as the connection went, it waits for the connection, not for the queue: the
    # message was never claimed (a claim writes the row; a cancel of it would then wait).
    (after,) = await rows.messages(here.db, pks)
    assert (after.status, after.attempts, after.updated_at) == (
        MessageStatus.QUEUED,
        0,
        before.updated_at,
    )
    await here.state.manager.connect(name)
    await all_sent(here, pks)


async def test_close_lets_the_send_in_flight_finish_and_leaves_the_rest_queued(
    here: Node, pool: WorkerPool
) -> None:
    name, instance_id = await here.linked_instance()
    here.engine.faults_of(instance_id).send_latency_ms = 400
    pool.ensure(name)
    in_flight, *rest = await rows.add_messages(here.db, instance_id, 3)
    await here.queue.enqueue(name, [in_flight, *rest])

    async def claimed() -> bool:
        return await statuses(here, [in_flight]) == [MessageStatus.SENDING]

    await eventually(claimed)
    later = await rows.add_messages(here.db, instance_id, 2)
    await here.queue.enqueue(name, later)
    await pool.close()
    assert all(task.done() for task in pool.tasks.values())
    # The send in flight is finished and recorded (never sent twice after a restart); the
    # rest, of its chunk or not, was not touched and waits, queued, for the next start.
    assert await statuses(here, [in_flight]) == [MessageStatus.SENT]
    assert await statuses(here, rest + later) == [MessageStatus.QUEUED] * 4
    assert await here.queue.contained(name) == set(rest + later)
