"""The outcomes waiter of sync sends on its own, over a real SQLite messages table: the local
signal, the relayed `message_ack`, the fallback poll, the timeout, and its bookkeeping."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from tests.support import rows
from wagate.db import Database
from wagate.events.bus import Event, EventBus
from wagate.message_status import MessageStatus
from wagate.messages.outcomes import Outcome, Outcomes

SLOW_POLL_S = 30.0  # a poll this slow never answers within a test: only a signal can


@pytest.fixture
async def db(sqlite_url: str) -> AsyncIterator[Database]:
    database = Database(sqlite_url)
    try:
        yield database
    finally:
        await database.close()


async def one_message(db: Database) -> tuple[int, str]:
    instance_id = await rows.add_instance(db, f"out-{time.monotonic_ns()}")
    [pk] = await rows.add_messages(db, instance_id, 1)
    [row] = await rows.messages(db, [pk])
    return pk, row.correlation_id


def outcome(correlation_id: str, status: str = "sent") -> Outcome:
    return Outcome(correlation_id, status, "3EB0AB", datetime.now(UTC), None, 1)


def ack(correlation_id: object, event: str = "message_ack") -> Event:
    return Event("evt_1", event, "one", 1, datetime.now(UTC), {"correlation_id": correlation_id})


async def test_the_local_signal_answers_a_registered_waiter_without_a_poll(
    db: Database,
) -> None:
    outcomes = Outcomes(db, SLOW_POLL_S)
    _, correlation_id = await one_message(db)  # still queued in the table
    expected = outcomes.expect(correlation_id)
    assert outcomes.waiting and outcomes.waited_for(correlation_id)
    waiting = asyncio.create_task(outcomes.wait(correlation_id, 10, expected=expected))
    await asyncio.sleep(0.05)
    started = time.monotonic()
    signalled = outcome(correlation_id)
    outcomes.resolve(signalled)
    assert await asyncio.wait_for(waiting, 5) == signalled
    assert time.monotonic() - started < 2.0
    assert not outcomes.waiting and not outcomes.waited_for(correlation_id)


async def test_an_outcome_already_recorded_is_read_at_once(db: Database) -> None:
    outcomes = Outcomes(db, SLOW_POLL_S)
    pk, correlation_id = await one_message(db)
    await rows.set_status(db, [pk], MessageStatus.FAILED)
    found = await asyncio.wait_for(outcomes.wait(correlation_id, 10), 5)
    assert found is not None and found.status == MessageStatus.FAILED


async def test_an_open_message_times_out_with_none_and_is_forgotten(db: Database) -> None:
    outcomes = Outcomes(db, 0.05)
    _, correlation_id = await one_message(db)
    started = time.monotonic()
    assert await outcomes.wait(correlation_id, 0.3) is None
    assert 0.25 <= time.monotonic() - started < 2.0
    assert not outcomes.waiting


async def test_the_poll_finds_an_outcome_recorded_meanwhile(db: Database) -> None:
    outcomes = Outcomes(db, 0.05)
    pk, correlation_id = await one_message(db)
    waiting = asyncio.create_task(outcomes.wait(correlation_id, 10))
    await asyncio.sleep(0.1)
    await rows.set_status(db, [pk], MessageStatus.SENT)  # recorded by another node's worker
    found = await asyncio.wait_for(waiting, 5)
    assert found is not None and found.status == MessageStatus.SENT


async def test_a_relayed_ack_reads_the_row_at_once(db: Database) -> None:
    outcomes = Outcomes(db, SLOW_POLL_S)
    bus = EventBus()
    bus.watch(outcomes.on_event)
    pk, correlation_id = await one_message(db)
    expected = outcomes.expect(correlation_id)
    waiting = asyncio.create_task(outcomes.wait(correlation_id, 20, expected=expected))
    await rows.set_status(db, [pk], MessageStatus.SENT)  # committed before the ack goes out
    started = time.monotonic()
    bus.fan_out(ack(correlation_id))  # relayed from the node whose worker sent it
    found = await asyncio.wait_for(waiting, 10)
    assert found is not None and found.status == MessageStatus.SENT
    assert time.monotonic() - started < 2.0


async def test_events_other_than_an_awaited_ack_are_ignored(db: Database) -> None:
    outcomes = Outcomes(db, SLOW_POLL_S)
    pk, correlation_id = await one_message(db)
    await rows.set_status(db, [pk], MessageStatus.SENT)
    expected = outcomes.expect(correlation_id)
    outcomes.on_event(ack(correlation_id, event="connection_update"))
    outcomes.on_event(ack("someone-else"))
    outcomes.on_event(ack(12345))  # not a string
    await asyncio.sleep(0.2)
    assert not expected.done()
    outcomes.forget(correlation_id, expected)
    assert not outcomes.waiting


async def test_every_waiter_of_a_message_gets_its_outcome(db: Database) -> None:
    outcomes = Outcomes(db, SLOW_POLL_S)
    _, correlation_id = await one_message(db)
    futures = [outcomes.expect(correlation_id) for _ in range(3)]
    waiters = [
        asyncio.create_task(outcomes.wait(correlation_id, 10, expected=future))
        for future in futures
    ]
    await asyncio.sleep(0.05)
    outcomes.resolve(outcome(correlation_id))
    outcomes.resolve(outcome(correlation_id, "failed"))  # a late second signal changes nothing
    found = await asyncio.wait_for(asyncio.gather(*waiters), 5)
    assert [item.status if item else None for item in found] == ["sent"] * 3
    outcomes.resolve(outcome("nobody-waits"))  # harmless
