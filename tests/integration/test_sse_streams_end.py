"""A token's event streams end when it stops being valid, and one token holds a bounded number
of them (over a real loopback server: SSE needs real streaming)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.conftest import admin_headers, create_instance, linked_instance
from tests.integration.instance_helpers import assert_error, token_headers
from tests.integration.sse_helpers import LiveStream

MAX_STREAMS = 2


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"sse_max_streams_per_token": MAX_STREAMS, "sse_max_lifetime_s": 120.0}


def events_path(name: str) -> str:
    return f"/v1/instances/{name}/events"


async def still_open(stream: LiveStream, for_s: float = 1.5) -> bool:
    await asyncio.sleep(for_s)  # keep-alives come every second: the stream is alive
    return not stream.ended.is_set()


async def test_rotation_ends_the_streams_of_the_instance_token(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, headers=admin_headers(), timeout=10) as http:
        created = await create_instance(http)
        name = created["name"]
        own = token_headers(created["token"])
        async with (
            LiveStream(base_url, events_path(name), own) as mine,
            LiveStream(base_url, events_path(name), admin_headers()) as admins,
        ):
            assert mine.status == admins.status == 200
            rotated = await http.post(f"/v1/instances/{name}/token", headers=own)
            assert rotated.status_code == 200
            await mine.wait_ended(5)
            assert await still_open(admins)  # the admin's token did not change
            # The old token cannot open another; the new one can.
            again = await http.get(events_path(name), headers=own)
            assert_error(again, 401, "unauthorized")
            async with LiveStream(
                base_url, events_path(name), token_headers(rotated.json()["token"])
            ) as renewed:
                assert renewed.status == 200
                assert await still_open(renewed, 0.5)


async def test_logout_ends_the_streams_of_the_instance_token(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, headers=admin_headers(), timeout=10) as http:
        linked = await linked_instance(http)
        name = linked["name"]
        async with (
            LiveStream(base_url, events_path(name), token_headers(linked["token"])) as mine,
            LiveStream(base_url, events_path(name), admin_headers()) as admins,
        ):
            assert (await http.post(f"/v1/instances/{name}/logout")).status_code == 200
            await mine.wait_ended(5)
            assert await still_open(admins)


async def test_delete_ends_every_stream(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, headers=admin_headers(), timeout=10) as http:
        created = await create_instance(http)
        name = created["name"]
        async with (
            LiveStream(base_url, events_path(name), token_headers(created["token"])) as mine,
            LiveStream(base_url, events_path(name), admin_headers()) as admins,
        ):
            assert (await http.delete(f"/v1/instances/{name}")).status_code == 204
            await mine.wait_ended(5)
            await admins.wait_ended(5)


async def test_streams_per_token_are_capped(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, headers=admin_headers(), timeout=10) as http:
        created = await create_instance(http)
        other = await create_instance(http)
        name = created["name"]
        own = token_headers(created["token"])
        async with (
            LiveStream(base_url, events_path(name), own) as first,
            LiveStream(base_url, events_path(name), own) as second,
        ):
            assert first.status == second.status == 200
            async with http.stream("GET", events_path(name), headers=own) as over:
                assert over.status_code == 429  # before reading: a 200 stream never ends
                await over.aread()
            error = assert_error(over, 429, "rate_limited")
            assert f"{MAX_STREAMS} event streams" in error["message"]
            assert created["token"] not in over.text
            # Other tokens have their own slots.
            async with (
                LiveStream(base_url, events_path(name), admin_headers()) as admins,
                LiveStream(
                    base_url, events_path(other["name"]), token_headers(other["token"])
                ) as others,
            ):
                assert admins.status == others.status == 200
        # Closed streams free their slots (the server sees the client gone soon after).
        for _ in range(100):
            async with LiveStream(base_url, events_path(name), own) as again:
                if again.status == 200:
                    break
            await asyncio.sleep(0.05)
        assert again.status == 200
