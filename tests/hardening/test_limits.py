"""Limits: caps on list and batch sizes, bodies cut off while they stream in, slow bodies,
and uvicorn's connection limits as `wagate serve` sets them."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_TOKEN, linked_instance, live_server
from tests.hardening.processes import Node, serve_env

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"max_request_bytes": 200_000, "request_body_timeout_s": 0.5, "rate_limit_per_s": 0}


def phones(count: int) -> list[str]:
    return [f"+49151{index:07d}" for index in range(count)]


async def test_list_and_batch_caps(client: httpx.AsyncClient) -> None:
    name = (await linked_instance(client))["name"]
    base = f"/v1/instances/{name}"
    cases: list[tuple[str, str, Any, int]] = [
        ("GET", f"{base}/messages?limit=0", None, 422),
        ("GET", f"{base}/messages?limit=501", None, 422),
        ("GET", f"{base}/messages?limit=500", None, 200),
        ("GET", f"{base}/webhook/deliveries?limit=1001", None, 422),
        ("GET", f"{base}/webhook/deliveries?limit=1000", None, 200),
        ("POST", f"{base}/contacts/check", {"phones": []}, 422),
        ("POST", f"{base}/contacts/check", {"phones": phones(501)}, 422),
        ("POST", f"{base}/contacts/check", {"phones": phones(500)}, 200),
        ("POST", f"{base}/send/batch", {"messages": []}, 422),
        (
            "POST",
            f"{base}/send/batch",
            {"messages": [{"kind": "text", "to": "+4915100000", "text": "x"}] * 1001},
            422,
        ),
        ("POST", f"{base}/chats/4915100000/read", {"message_ids": ["A"] * 1001}, 422),
        (
            "POST",
            f"{base}/send/contact",
            {"to": "+4915100000", "contacts": [{"name": "n", "phone": "+4915100000"}] * 21},
            422,
        ),
        (
            "POST",
            f"{base}/send/poll",
            {"to": "+4915100000", "question": "q", "options": [str(i) for i in range(13)]},
            422,
        ),
    ]
    for method, url, body, expected in cases:
        response = await client.request(method, url, json=body)
        assert response.status_code == expected, (method, url, response.text[:300])
        if expected == 422:
            assert response.json()["error"]["code"] == "validation_error"
    results = (await client.post(f"{base}/contacts/check", json={"phones": phones(500)})).json()
    assert len(results["results"]) == 500
    full = await client.post(
        f"{base}/send/batch",
        json={"messages": [{"kind": "text", "to": "+4915100000", "text": "x"}] * 1000},
    )
    assert full.status_code == 202, full.text[:300]
    assert len(full.json()["results"]) == 1000


async def _raw(url: str, head: bytes, chunks: list[bytes], pause: float) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(head)
    for chunk in chunks:
        writer.write(chunk)
        await writer.drain()
        await asyncio.sleep(pause)
    answer = await asyncio.wait_for(reader.read(65536), 10)
    writer.close()
    return answer


async def _target(url: str, route: str) -> bytes:
    """The request line's path: the create route, or a send route of a new instance (sends
    are reached without FastAPI's router: the limits must hold there too)."""
    if route == "create":
        return b"/v1/instances"
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(base_url=url, headers=headers) as client:
        response = await client.post("/v1/instances", json={"name": "big", "engine": "simulator"})
        assert response.status_code == 201, response.text
    return b"/v1/instances/big/send/text?async=true"


@pytest.mark.parametrize("route", ["create", "send"])
async def test_streamed_body_over_the_limit_is_cut_off(app: Any, route: str) -> None:
    async with live_server(app) as url:
        # Chunked: no Content-Length to refuse up front; the limit applies while reading.
        head = (
            b"POST " + await _target(url, route) + b" HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\n"
            b"Authorization: Bearer " + ADMIN_TOKEN.encode() + b"\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        piece = b" " * 50_000
        chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        answer = await _raw(url, head, [chunk] * 6, 0.01)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"payload_too_large"' in answer


@pytest.mark.parametrize("route", ["create", "send"])
async def test_a_body_that_stalls_is_dropped_with_408(app: Any, route: str) -> None:
    async with live_server(app) as url:
        head = (
            b"POST " + await _target(url, route) + b" HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\n"
            b"Authorization: Bearer " + ADMIN_TOKEN.encode() + b"\r\n"
            b"Content-Length: 100\r\n\r\n"
        )
        started = time.monotonic()
        answer = await _raw(url, head, [b'{"name": '], 0)
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b'"request_timeout"' in answer
    assert time.monotonic() - started < 5


@pytest.mark.e2e
def test_serve_closes_idle_keep_alive_connections(tmp_path: Path, database_url: str) -> None:
    env = serve_env(database_url, tmp_path / "data", http_keepalive_timeout_s=1)
    with Node(env, tmp_path) as node, socket.create_connection(("127.0.0.1", node.port)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        sock.settimeout(5)
        answer = b""
        while b'"status":"ok"' not in answer:
            chunk = sock.recv(4096)
            assert chunk, f"closed before the whole answer came: {answer!r}"
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        assert sock.recv(4096) == b""  # closed by the server, not by us
        assert 0.5 < time.monotonic() - started < 4


async def test_metrics_label_requests_by_route_template(client: httpx.AsyncClient) -> None:
    name = (await linked_instance(client))["name"]
    assert (await client.get(f"/v1/instances/{name}/messages")).status_code == 200
    metrics = (await client.get("/metrics")).text
    assert 'route="/v1/instances/{instance}/messages"' in metrics
