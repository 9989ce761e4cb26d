"""The server ends an event stream at its maximum lifetime and tells the client how soon to
reconnect."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import admin_headers, create_instance
from tests.integration.sse_helpers import LiveStream


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"sse_max_lifetime_s": 1.5}  # keep-alives every 1 s in the tests


async def test_a_stream_ends_at_its_lifetime_with_a_retry_hint(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, headers=admin_headers(), timeout=10) as http:
        name = (await create_instance(http))["name"]
    async with LiveStream(base_url, f"/v1/instances/{name}/events", admin_headers()) as stream:
        assert stream.status == 200
        await stream.wait_ended(5)
    assert stream.lines[0] == "retry: 3000"
    assert ": keep-alive" in stream.lines
    assert ": stream lifetime reached; reconnect" in stream.lines
