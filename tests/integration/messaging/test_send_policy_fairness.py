"""A held instance costs nothing while it waits and never delays another: 10,000 messages
queued behind a day's cap while another instance drains at full speed."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from tests.conftest import linked_instance
from tests.integration.messaging.test_send_policy import policy_of, set_policy, wait_held
from tests.support import rows
from tests.support.polling import eventually
from wagate.clock import ManualClock
from wagate.models import Message

HELD = 10_000
OTHER = 300


async def queue_many(app: FastAPI, instance: dict[str, Any], count: int) -> list[int]:
    state = app.state.wagate
    instance_id = await rows.instance_id_of(state.db, instance["name"])
    assert instance_id is not None
    pks = await rows.add_messages(state.db, instance_id, count)
    await state.messaging.service.signal(instance["name"], pks)
    return pks


async def statuses(app: FastAPI, pks: list[int]) -> dict[tuple[str, int], int]:
    async with app.state.wagate.db.session() as session:
        found = await session.execute(
            select(Message.status, Message.attempts, func.count())
            .where(Message.id.in_(pks))
            .group_by(Message.status, Message.attempts)
        )
        return {(status, attempts): count for status, attempts, count in found}


async def test_ten_thousand_held_while_another_drains(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    app.state.wagate.send_policy.clock = ManualClock(datetime(2026, 3, 10, 12, tzinfo=UTC))
    held = await linked_instance(client)
    free = await linked_instance(client)
    await set_policy(client, held["name"], per_day=1)
    held_pks = await queue_many(app, held, HELD)
    policy = await wait_held(client, held["name"], HELD - 1, "per_day")
    assert policy["next_send_at"] == "2026-03-11T00:00:00Z"

    started = time.monotonic()
    free_pks = await queue_many(app, free, OTHER)

    async def drained() -> dict[tuple[str, int], int] | None:
        found = await statuses(app, free_pks)
        return found if found.get(("queued", 0), 0) + found.get(("sending", 1), 0) == 0 else None

    found = await eventually(drained, timeout=30, what=f"{OTHER} sends of the free instance")
    assert set(found) <= {(status, 1) for status in ("sent", "delivered", "read")}
    elapsed = time.monotonic() - started
    # Nothing worked the held messages meanwhile: none was claimed again (an attempt spent).
    held_now = await statuses(app, held_pks)
    assert held_now.pop(("queued", 0)) == HELD - 1
    assert sum(held_now.values()) == 1 and set(held_now) <= {
        (status, 1) for status in ("sent", "delivered", "read")
    }
    assert (await policy_of(client, held["name"]))["held"]["count"] == HELD - 1
    # The free instance went as fast as it goes alone (generous: a loaded shared machine).
    assert elapsed < 20, elapsed
