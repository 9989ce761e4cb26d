"""The send policy's counters are the cluster's (Redis): a failover in the middle of a day
does not reset the day's cap, and the new holder holds what is over it."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import linked_instance
from tests.integration.messaging.test_send_policy import (
    policy_of,
    send,
    sent_texts,
    set_policy,
    wait_held,
    wait_sent,
)
from tests.support.polling import eventually
from wagate.clock import ManualClock
from wagate.engines.status import Status
from wagate.policy.counters import RedisCounters

from .conftest import NodeFactory

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


async def test_a_failover_keeps_the_day_cap(start_node: NodeFactory) -> None:
    clock = ManualClock(datetime(2026, 3, 10, 12, tzinfo=UTC))
    a = await start_node()
    a.state.send_policy.clock = clock
    assert isinstance(a.state.send_policy.counters, RedisCounters)
    name = (await linked_instance(a.http))["name"]
    await set_policy(a.http, name, per_day=3)
    await send(a.http, name, "m0")
    await send(a.http, name, "m1")
    await wait_sent(a.http, name, 2)

    b = await start_node()
    b.state.send_policy.clock = clock
    await a.stop()
    await eventually(
        lambda: asyncio.sleep(0, b.state.manager.status_of(name) == Status.CONNECTED),
        what="b takes over and connects",
        timeout=15,
    )
    for text in ("m2", "m3", "m4"):
        await send(b.http, name, text)
    await wait_sent(b.http, name, 3)
    policy = await wait_held(b.http, name, 2, "per_day")
    assert policy["counters"]["sends:day"]["count"] == 3
    await asyncio.sleep(0.3)
    assert await sent_texts(b.http, name) == ["m0", "m1", "m2"]

    clock.advance(timedelta(hours=12))
    await wait_sent(b.http, name, 5)
    assert (await policy_of(b.http, name))["counters"]["sends:day"]["count"] == 2
