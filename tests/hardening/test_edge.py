"""The edge: a request is authenticated from its headers before its body is read, the rate
limit counts the authenticated identity, failed authentications are limited per address, and
bodies have a per-route cap and an overall deadline (real uvicorn servers on loopback)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event

from tests.conftest import ADMIN_TOKEN, admin_headers, create_instance, live_server

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

MIB = 1024 * 1024


def wrong_token() -> str:
    return "wgi_" + uuid.uuid4().hex + uuid.uuid4().hex


async def exchange(url: str, head: bytes, timeout: float = 5.0) -> bytes:
    """Sends a request head alone (no body byte), then reads until the server closes."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(head)
        await writer.drain()
        answer = b""
        async with asyncio.timeout(timeout):
            while chunk := await reader.read(65536):
                answer += chunk
        return answer
    finally:
        writer.close()


def post_head(path: str, token: str, length: int) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {token}\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"rate_limit_per_s": 0, "auth_failure_rate_per_s": 0}


@pytest.fixture
async def url(app: FastAPI) -> AsyncIterator[str]:
    async with live_server(app) as found:
        yield found


@pytest.mark.parametrize(
    "path",
    ["/v1/instances", "/v1/instances/x/send/image", "/v1/instances/x/send/batch"],
)
async def test_a_40_mb_body_with_a_wrong_token_is_refused_before_it_is_sent(
    url: str, path: str
) -> None:
    # Only the head goes out: the 401 can only come from the headers, and the closed
    # connection means the server will not read the 40 MB either.
    started = time.monotonic()
    answer = await exchange(url, post_head(path, wrong_token(), 40_000_000))
    assert answer.startswith(b"HTTP/1.1 401"), answer[:300]
    assert b'"code":"unauthorized"' in answer.replace(b" ", b"")
    assert b"connection: close" in answer.lower()
    assert time.monotonic() - started < 3


async def test_a_route_without_media_refuses_1_mib_plus_1(url: str) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"}
    body = b'{"name": "big"' + b" " * (MIB + 1 - len(b'{"name": "big"}')) + b"}"
    assert len(body) == MIB + 1
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as http:
        refused = await http.post("/v1/instances", content=body)
        assert refused.status_code == 413, refused.text[:300]
        assert refused.json()["error"]["code"] == "payload_too_large"

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: cut off while read
            for start in range(0, len(body), 64 * 1024):
                yield body[start : start + 64 * 1024]

        streamed = await http.post("/v1/instances", content=chunks())
        assert streamed.status_code == 413, streamed.text[:300]
        # 1 MiB exactly is within the cap; the sends keep the media-sized one.
        fits = await http.post("/v1/instances", content=body[: MIB - 1] + b"}")
        assert fits.status_code == 201, fits.text[:300]
        media = await http.post(
            "/v1/instances/big/send/text?async=true",
            content=b'{"to": "+4915100000", "text": "x"' + b" " * (2 * MIB) + b"}",
        )
        assert media.status_code == 202, media.text[:300]


@pytest.mark.parametrize(
    "settings_overrides",
    [{"rate_limit_per_s": 1.0, "rate_limit_burst": 3, "auth_failure_rate_per_s": 0}],
)
async def test_a_random_x_api_key_does_not_open_a_bucket_of_its_own(url: str) -> None:
    async with httpx.AsyncClient(base_url=url, headers=admin_headers()) as admin:
        created = await create_instance(admin)
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        codes = []
        for _ in range(6):
            # The random key first: the token that authenticates is the Authorization one.
            headers = [
                ("X-Api-Key", wrong_token()),
                ("Authorization", f"Bearer {created['token']}"),
            ]
            response = await http.get(f"/v1/instances/{created['name']}", headers=headers)
            codes.append(response.status_code)
        assert codes[:3] == [200, 200, 200], codes
        assert codes[-1] == 429, codes
        # The same identity, whichever header carries its token.
        alone = await http.get(
            f"/v1/instances/{created['name']}", headers={"X-Api-Key": created["token"]}
        )
        assert alone.status_code == 429
        assert int(alone.headers["retry-after"]) >= 1


@pytest.mark.parametrize(
    "settings_overrides",
    [{"rate_limit_per_s": 0, "auth_failure_rate_per_s": 0.1, "auth_failure_burst": 5}],
)
async def test_wrong_tokens_are_limited_per_address_without_a_query(app: FastAPI, url: str) -> None:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    engine = app.state.wagate.db.api_engine.sync_engine
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        codes = [
            (await http.get("/v1/instances", headers={"X-Api-Key": wrong_token()})).status_code
            for _ in range(5)
        ]
        assert codes == [401] * 5
        event.listen(engine, "before_cursor_execute", count)
        try:
            limited = await http.get("/v1/instances", headers={"X-Api-Key": wrong_token()})
            missing = await http.get("/v1/instances")
        finally:
            event.remove(engine, "before_cursor_execute", count)
        assert limited.status_code == 429, limited.text
        assert limited.json()["error"]["code"] == "rate_limited"
        assert int(limited.headers["retry-after"]) >= 1
        assert missing.status_code == 429
        assert statements == []  # refused before the token lookup
        # A token the node knows without a lookup still works from that address.
        admin = await http.get("/v1/instances", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert admin.status_code == 200


@pytest.mark.parametrize(
    "settings_overrides",
    [
        {
            "rate_limit_per_s": 0,
            "auth_failure_rate_per_s": 0,
            "request_body_timeout_s": 1.0,
            "request_body_deadline_s": 1.5,
        }
    ],
)
async def test_a_body_that_trickles_in_gets_408_at_its_deadline(url: str) -> None:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    started = time.monotonic()
    answer = b""
    try:
        writer.write(post_head("/v1/instances", ADMIN_TOKEN, 100) + b"{")
        # A byte every 0.3 s: never a second between two, so only the overall deadline ends it.
        while not answer and time.monotonic() - started < 6:
            await asyncio.sleep(0.3)
            with contextlib.suppress(ConnectionError):  # closed by the server: answered
                writer.write(b" ")
                await writer.drain()
            with contextlib.suppress(TimeoutError):
                answer = await asyncio.wait_for(reader.read(65536), 0.01)
    finally:
        writer.close()
    elapsed = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408"), answer[:300]
    assert b"did not arrive within 1.5 s" in answer
    assert 1.3 < elapsed < 3.5, elapsed
