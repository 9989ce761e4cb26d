"""A live stream outlives the request-body timeout: once a request's body is complete, its
further `receive()` (the server's wait for a disconnect) is not a stalled body."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.conftest import admin_headers, create_instance
from tests.integration.instance_helpers import SseReader


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"request_body_timeout_s": 0.5}


async def test_a_stream_lives_past_the_body_timeout(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, headers=admin_headers(), timeout=10) as http:
        name = (await create_instance(http))["name"]
        async with http.stream("GET", f"/v1/instances/{name}/events") as response:
            assert response.status_code == 200
            reader = SseReader(response)
            await asyncio.sleep(2.0)  # four body timeouts with nothing received
            assert (await http.post(f"/v1/instances/{name}/connect")).status_code == 202
            connecting = await reader.until("connection_update", "connecting")
            assert connecting["instance"] == name
