"""Cluster fixtures: several nodes in this process on one PostgreSQL database and one Redis,
each served over real HTTP on its own port (lifecycle calls are forwarded between them)."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from fastapi import FastAPI

from tests.conftest import admin_headers, free_port, live_server, make_settings, running_app
from wagate.cluster.leases import LeaseStore
from wagate.cluster.runtime import ClusterNode
from wagate.config import Settings
from wagate.state import AppState

# Short, but with room for a loaded machine: several nodes share this one event loop.
FAST = {
    "lease_ttl_s": 3.0,
    "lease_renew_interval_s": 0.5,
    "heartbeat_interval_s": 0.5,
    "placement_interval_s": 0.2,
    "forward_timeout_s": 10.0,
}


@dataclass
class Node:
    app: FastAPI
    url: str
    settings: Settings
    http: httpx.AsyncClient
    stack: contextlib.AsyncExitStack

    async def stop(self) -> None:
        """A clean stop (what SIGTERM does): the lifespan ends, instances are handed over."""
        await self.stack.aclose()

    @property
    def state(self) -> AppState:
        state: AppState = self.app.state.wagate
        return state

    @property
    def cluster(self) -> ClusterNode:
        cluster = self.state.cluster
        assert isinstance(cluster, ClusterNode)
        return cluster

    @property
    def id(self) -> str:
        return self.settings.node_id

    def held_names(self) -> set[str]:
        return {lease.name for lease in self.cluster.ownership.held().values()}


@pytest.fixture
async def key_prefix(redis_url: str) -> AsyncIterator[str]:
    """A Redis key prefix of this test alone (Redis is shared): its keys are deleted after."""
    prefix = f"test:cluster:{uuid.uuid4().hex[:10]}:"
    yield prefix
    client = aioredis.Redis.from_url(redis_url)
    keys = [k async for k in client.scan_iter(match=prefix + "*", count=500)]
    if keys:
        await client.delete(*keys)
    await client.aclose()


NodeFactory = Callable[..., Awaitable[Node]]


@pytest.fixture
async def store(redis_url: str, key_prefix: str) -> AsyncIterator[LeaseStore]:
    """The lease store on the test's own keys."""
    client = aioredis.Redis.from_url(redis_url)
    yield LeaseStore(client, key_prefix)
    await client.aclose()


@pytest.fixture
async def start_node(
    postgres_url: str, tmp_path: Path, redis_url: str, key_prefix: str
) -> AsyncIterator[NodeFactory]:
    """Start a cluster node: `await start_node(role="api", ...)`; stopped after the test."""
    stack = contextlib.AsyncExitStack()

    async def start(name: str | None = None, **overrides: Any) -> Node:
        node_id = name or f"node-{uuid.uuid4().hex[:6]}"
        port = free_port()
        values: dict[str, Any] = {
            **FAST,
            "redis_url": redis_url,
            "cluster_key_prefix": key_prefix,
            "node_id": node_id,
            "internal_url": f"http://127.0.0.1:{port}",
            **overrides,
        }
        settings = make_settings(postgres_url, tmp_path / node_id, **values)
        own = contextlib.AsyncExitStack()
        app = await own.enter_async_context(running_app(settings))
        await own.enter_async_context(live_server(app, port))
        http = await own.enter_async_context(
            httpx.AsyncClient(
                base_url=f"http://127.0.0.1:{port}", headers=admin_headers(), timeout=30
            )
        )
        stack.push_async_callback(own.aclose)
        return Node(app, f"http://127.0.0.1:{port}", settings, http, own)

    async with stack:
        yield start


@pytest.fixture(autouse=True)
async def _dump_tasks_on_sigusr1() -> AsyncIterator[None]:
    """`kill -USR1 <pytest pid>` prints every asyncio task's stack (to debug a hang)."""
    import faulthandler
    import signal
    import sys

    loop = asyncio.get_running_loop()

    def dump() -> None:
        for task in asyncio.all_tasks(loop):
            task.print_stack(file=sys.stderr)

    loop.add_signal_handler(signal.SIGUSR1, dump)
    faulthandler.register(signal.SIGUSR2, all_threads=True)  # even when the loop is stuck
    yield
    loop.remove_signal_handler(signal.SIGUSR1)
