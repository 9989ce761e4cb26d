"""Shutdown ends, and within a bound, even when a cancellation is swallowed on the way.

On Python 3.11 `asyncio.wait_for` returns normally instead of raising a cancellation that
arrives in the loop turn in which its inner operation finishes (CPython gh-86296), and redis-py
wraps every command's socket write in it. The reconciler, cancelled at shutdown while it asked
Redis something, went on looping, and the lifespan waited for it forever (a hang seen in CI).
"""

from __future__ import annotations

import asyncio
import random
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import linked_instance
from tests.integration.messaging.conftest import FAST, redis_keys
from wagate.worker.reconciler import run_reconciler

ROUNDS = 600
pytestmark = [pytest.mark.postgres, pytest.mark.redis]


@pytest.fixture
def settings_overrides(postgres_url: str, redis_url: str) -> dict[str, Any]:
    # Redis Streams queue (the reconciler asks Redis what each stream holds), at once.

    prefix = f"wgtest:{uuid.uuid4().hex[:10]}:"
    return {**FAST, "redis_url": redis_url, **redis_keys(prefix), "reconcile_interval_s": 0.0}


@pytest.fixture
def database_url(postgres_url: str) -> str:
    return postgres_url


async def test_reconciler_stops_on_one_cancel_in_the_middle_of_redis_calls(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    state = app.state.wagate
    service = state.messaging.service
    for _ in range(4):  # streams the reconciler reads (and measures) every round
        name = (await linked_instance(client))["name"]
        response = await client.post(
            f"/v1/instances/{name}/send/text?async=true", json={"to": "5511987654321", "text": "x"}
        )
        assert response.status_code == 202
    hung = 0
    for _ in range(ROUNDS):
        task = asyncio.create_task(run_reconciler(state, service))
        await asyncio.sleep(random.random() * 0.005)
        task.cancel()  # once, as Messaging.close did
        done, _ = await asyncio.wait({task}, timeout=2)
        if not done:
            hung += 1
            while not task.done():  # do not leave it running
                task.cancel()
                await asyncio.sleep(0.01)
    assert hung == 0, f"{hung} of {ROUNDS} cancelled reconcilers went on running"
