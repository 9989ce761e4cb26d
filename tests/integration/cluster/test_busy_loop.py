"""Leases are renewed by a thread, not by the event loop: a node whose loop is kept busy for
twice the TTL, in slices longer than the loop-side renewals could bear, loses no lease; when
Redis stops answering, the node stops sending before its leases could expire there."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import linked_instance, wait_status
from tests.support.busy_loop import saturate
from tests.support.polling import eventually
from tests.support.redis_server import RedisServer
from wagate.cluster.leases import Holder

from .conftest import NodeFactory
from .helpers import overlapping_connections

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


async def test_a_saturated_loop_loses_no_lease(start_node: NodeFactory) -> None:
    node = await start_node(lease_ttl_s=3.0, lease_renew_interval_s=0.5)
    names = [(await linked_instance(node.http))["name"] for _ in range(3)]
    ownership = node.cluster.ownership
    before = {iid: lease.holder for iid, lease in ownership.held().items()}
    assert len(before) == 3
    rounds = node.cluster.renewer.rounds

    # Each slice outlasts what the TTL leaves after the stop margin (3 - 0.75 s): a node that
    # renewed from its loop stopped its clients in the first one.
    started = time.monotonic()
    slices = await saturate(total_s=2 * 3.0, slice_s=2.5)
    busy = time.monotonic() - started
    await asyncio.sleep(0.6)  # the guard has its turns: nothing is expiring

    assert slices >= 3 and busy >= 6.0
    held = ownership.held()
    assert {iid: lease.holder for iid, lease in held.items()} == before
    assert not any(lease.releasing or lease.gone for lease in held.values())
    assert all(ownership.fencing_token(name) is not None for name in names)
    assert await node.cluster.store.holders(list(before)) == before
    assert node.cluster.renewer.rounds - rounds >= 10  # about one every 0.5 s, busy or not
    for name in names:
        assert node.state.manager.live_client(name) is not None


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    if server.process is not None and server.process.poll() is None:
        server.process.send_signal(signal.SIGCONT)
    server.stop(kill=True)


async def test_redis_that_stops_answering_stops_sends_before_the_lease_expires(
    start_node: NodeFactory, redis_server: RedisServer
) -> None:
    node = await start_node(redis_url=redis_server.url, lease_ttl_s=2.0)
    name = (await linked_instance(node.http))["name"]
    ownership = node.cluster.ownership
    (lease,) = ownership.held().values()
    token = lease.holder.token
    assert redis_server.process is not None

    redis_server.process.send_signal(signal.SIGSTOP)  # up, but answers nothing
    stopped = time.monotonic()
    try:
        while ownership.fencing_token(name) is not None:
            await asyncio.sleep(0.005)
        refused_at = time.monotonic()
        # The lease lives in Redis at least until valid_until (a TTL after the last renewal
        # was sent): sends stop a stop margin before that, so nobody else holds it yet.
        assert refused_at <= lease.valid_until - ownership.stop_margin_s + 0.05
        assert refused_at - stopped < 2.0
        await eventually(
            lambda: asyncio.sleep(0, node.state.manager.live_client(name) is None),
            timeout=5,
            what="the client stopped",
        )
        assert time.monotonic() < lease.valid_until + 0.5
    finally:
        redis_server.process.send_signal(signal.SIGCONT)

    # Redis answers again: the instance is taken again, under a larger token.
    await eventually(
        lambda: asyncio.sleep(0, (ownership.fencing_token(name) or 0) > token),
        timeout=15,
        what="the lease taken again",
    )
    await wait_status(node.http, name, "connected", timeout=15)
    again = ownership.fencing_token(name)
    assert again is not None
    assert await node.cluster.store.holder(lease.instance_id) == Holder(node.id, again)
    assert await overlapping_connections(node.state.db) == []
