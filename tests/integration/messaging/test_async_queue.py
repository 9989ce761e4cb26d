"""The asynchronous path on both queue backends (embedded and Redis Streams)."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import admin_headers, create_instance, linked_instance, running_app
from tests.integration.messaging.conftest import FAST, wait_message
from wagate.config import Settings

TO = "5511987654321"


@pytest.fixture
def settings_overrides(queue_overrides: dict[str, Any]) -> dict[str, Any]:
    return {**FAST, **queue_overrides}


async def send_async(client: httpx.AsyncClient, name: str, text: str) -> str:
    response = await client.post(
        f"/v1/instances/{name}/send/text?async=true", json={"to": TO, "text": text}
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "queued"
    assert response.headers["location"] == f"/v1/instances/{name}/messages/{body['correlation_id']}"
    correlation_id: str = body["correlation_id"]
    return correlation_id


async def faults(client: httpx.AsyncClient, name: str, **body: Any) -> None:
    response = await client.post(f"/v1/instances/{name}/simulator/faults", json=body)
    assert response.status_code in (200, 204), response.text


async def outbox_texts(client: httpx.AsyncClient, name: str) -> list[str]:
    response = await client.get(f"/v1/instances/{name}/simulator/outbox")
    return [m["body"].get("text", "") for m in response.json()["messages"]]


def acks(seen: list[Any]) -> Counter[str]:
    return Counter(e.data["correlation_id"] for e in seen if e.event == "message_ack")


async def test_async_send_and_ack(client: httpx.AsyncClient, app: FastAPI, events_of: Any) -> None:
    name = (await linked_instance(client))["name"]
    seen = events_of(app, name)
    correlation_id = await send_async(client, name, "hello")
    record = await wait_message(client, name, correlation_id, {"sent", "delivered", "read"})
    assert record["message_id"] and record["attempts"] == 1
    await asyncio.sleep(0.1)
    ack = [e.data for e in seen if e.event == "message_ack"]
    assert ack == [
        {
            "correlation_id": correlation_id,
            "status": "sent",
            "message_id": record["message_id"],
            "attempts": 1,
        }
    ]


async def test_order_per_instance_one_at_a_time(client: httpx.AsyncClient) -> None:
    names = [(await linked_instance(client))["name"] for _ in range(3)]
    for name in names:
        await faults(client, name, send_latency_ms=5)

    async def producer(name: str) -> list[str]:
        ids = []
        for i in range(40):
            ids.append(await send_async(client, name, f"{name}-{i}"))
        return ids

    all_ids = await asyncio.gather(*(producer(n) for n in names))
    for name, ids in zip(names, all_ids, strict=True):
        await wait_message(client, name, ids[-1], {"sent", "delivered", "read"}, timeout=20)
        assert await outbox_texts(client, name) == [f"{name}-{i}" for i in range(40)]
        sent = (await client.get(f"/v1/instances/{name}/simulator/outbox")).json()["messages"]
        # one send at a time: each starts after the previous one's 5 ms of latency
        stamps = [m["sent_at"] for m in sent]
        assert stamps == sorted(stamps)


async def test_send_interval(client: httpx.AsyncClient, app: FastAPI) -> None:
    name = (
        await linked_instance(client, settings={"send_interval_ms": 100, "send_jitter_ms": 20})
    )["name"]
    ids = [await send_async(client, name, f"p{i}") for i in range(4)]
    await wait_message(client, name, ids[-1], {"sent", "delivered", "read"})
    sent = (await client.get(f"/v1/instances/{name}/simulator/outbox")).json()["messages"]
    stamps = [datetime.fromisoformat(m["sent_at"].replace("Z", "+00:00")) for m in sent]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(stamps)]
    assert len(gaps) == 3 and min(gaps) >= 0.095, gaps


async def test_retry_then_success_and_permanent(
    client: httpx.AsyncClient, app: FastAPI, events_of: Any
) -> None:
    name = (await linked_instance(client))["name"]
    seen = events_of(app, name)
    await faults(client, name, fail_next=2, fail_kind="transient")
    retried = await send_async(client, name, "retried")
    record = await wait_message(client, name, retried, {"sent", "delivered", "read"})
    assert record["attempts"] == 3
    await faults(client, name, fail_next=1, fail_kind="permanent")
    permanent = await send_async(client, name, "rejected")
    record = await wait_message(client, name, permanent, {"failed"})
    assert record["attempts"] == 1 and record["error"]["code"] == "engine_error"
    gone = await send_async(client, name, "x")  # placeholder so the list has a sent one too
    await wait_message(client, name, gone, {"sent", "delivered", "read"})
    letters = (await client.get("/v1/dead-letters", params={"instance": name})).json()
    assert [d["correlation_id"] for d in letters["dead_letters"]] == [permanent]
    assert letters["dead_letters"][0]["instance"] == name
    await asyncio.sleep(0.1)
    assert acks(seen) == Counter({retried: 1, permanent: 1, gone: 1})
    metrics = (await client.get("/metrics")).text
    assert "wagate_send_retries_total" in metrics
    assert 'wagate_sends_total{kind="text",outcome="failed"}' in metrics


async def test_dead_letter_after_max_attempts_then_retry(
    client: httpx.AsyncClient, app: FastAPI, events_of: Any
) -> None:
    name = (await linked_instance(client, settings={"max_attempts": 2}))["name"]
    seen = events_of(app, name)
    await faults(client, name, fail_next=2, fail_kind="transient")
    correlation_id = await send_async(client, name, "unlucky")
    record = await wait_message(client, name, correlation_id, {"failed"})
    assert record["attempts"] == 2
    letters = (await client.get("/v1/dead-letters")).json()["dead_letters"]
    assert [d["correlation_id"] for d in letters] == [correlation_id]
    assert letters[0]["attempts"] == 2 and letters[0]["failed_at"]
    retry = await client.post(f"/v1/dead-letters/{correlation_id}/retry")
    assert retry.status_code == 202
    assert retry.json() == {"correlation_id": correlation_id, "status": "queued"}
    record = await wait_message(client, name, correlation_id, {"sent", "delivered", "read"})
    assert record["attempts"] == 1
    assert (await client.get("/v1/dead-letters")).json()["dead_letters"] == []
    assert (await client.post(f"/v1/dead-letters/{correlation_id}/retry")).status_code == 404
    await asyncio.sleep(0.1)
    statuses = [e.data["status"] for e in seen if e.event == "message_ack"]
    assert statuses == ["failed", "sent"]  # one final outcome per attempt run
    # delete: the record stays failed, the dead letter is gone
    await faults(client, name, fail_next=1, fail_kind="permanent")
    dropped = await send_async(client, name, "drop me")
    await wait_message(client, name, dropped, {"failed"})
    assert (await client.delete(f"/v1/dead-letters/{dropped}")).status_code == 204
    assert (await client.delete(f"/v1/dead-letters/{dropped}")).status_code == 404
    assert (await client.get("/v1/dead-letters")).json()["dead_letters"] == []
    assert (await client.get(f"/v1/instances/{name}/messages/{dropped}")).json()[
        "status"
    ] == "failed"


async def test_dead_letters_scoped_to_instance_token(client: httpx.AsyncClient) -> None:
    mine = await linked_instance(client)
    other = await linked_instance(client)
    for created in (mine, other):
        await faults(client, created["name"], fail_next=1, fail_kind="permanent")
        cid = await send_async(client, created["name"], "x")
        await wait_message(client, created["name"], cid, {"failed"})
    token = {"Authorization": f"Bearer {mine['token']}"}
    listed = (await client.get("/v1/dead-letters", headers=token)).json()["dead_letters"]
    assert {d["instance"] for d in listed} == {mine["name"]}
    response = await client.get(
        "/v1/dead-letters", params={"instance": other["name"]}, headers=token
    )
    assert response.status_code == 404
    theirs = (await client.get("/v1/dead-letters", params={"instance": other["name"]})).json()
    their_id = theirs["dead_letters"][0]["correlation_id"]
    assert (
        await client.post(f"/v1/dead-letters/{their_id}/retry", headers=token)
    ).status_code == 404
    assert (await client.delete(f"/v1/dead-letters/{their_id}", headers=token)).status_code == 404


async def test_sync_timeout_goes_on(client: httpx.AsyncClient, app: FastAPI) -> None:
    app.state.wagate.settings.sync_timeout_s = 0.3
    name = (await linked_instance(client))["name"]
    await faults(client, name, send_latency_ms=800)
    response = await client.post(f"/v1/instances/{name}/send/text", json={"to": TO, "text": "slow"})
    assert response.status_code == 504
    error = response.json()["error"]
    assert error["code"] == "send_timeout"
    await wait_message(
        client, name, error["details"]["correlation_id"], {"sent", "delivered", "read"}
    )


async def test_batch(client: httpx.AsyncClient, app: FastAPI, events_of: Any) -> None:
    name = (await linked_instance(client))["name"]
    seen = events_of(app, name)
    messages: list[dict[str, Any]] = [
        {"kind": "text", "to": TO, "text": f"b{i}"} for i in range(1000)
    ]
    messages[3] = {"kind": "text", "to": TO, "text": ""}
    messages[7] = {"kind": "fax", "to": TO}
    messages[9] = {"kind": "location", "to": TO, "latitude": 91, "longitude": 0}
    response = await client.post(
        f"/v1/instances/{name}/send/batch?async=true", json={"messages": messages}
    )
    assert response.status_code == 202, response.text
    results = response.json()["results"]
    assert len(results) == 1000
    for bad in (3, 7, 9):
        assert results[bad]["error"]["code"] == "validation_error"
        assert results[bad]["error"]["details"]["index"] == bad
    good = [r["correlation_id"] for r in results if "correlation_id" in r]
    assert len(good) == 997
    await wait_message(client, name, good[-1], {"sent", "delivered", "read"}, timeout=180)
    expected = [f"b{i}" for i in range(1000) if i not in (3, 7, 9)]
    assert await outbox_texts(client, name) == expected
    for _ in range(200):
        if sum(acks(seen).values()) >= 997:
            break
        await asyncio.sleep(0.05)
    assert acks(seen) == Counter({cid: 1 for cid in good})
    too_many = {"messages": [{"kind": "text", "to": TO, "text": "x"}] * 1001}
    assert (await client.post(f"/v1/instances/{name}/send/batch", json=too_many)).status_code == 422


def admin_client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url="http://t", headers=admin_headers())


async def test_queued_while_disconnected_survive_restart(settings: Settings) -> None:
    """Sends accepted while the instance is offline wait in the queue, across a restart."""
    async with running_app(settings) as app, admin_client(app) as client:
        name = (await linked_instance(client))["name"]
        await client.post(f"/v1/instances/{name}/disconnect")
        ids = [await send_async(client, name, f"w{i}") for i in range(5)]
        await asyncio.sleep(0.2)
        record = (await client.get(f"/v1/instances/{name}/messages/{ids[0]}")).json()
        assert record["status"] == "queued"
    async with running_app(settings) as app, admin_client(app) as client:
        assert (await client.post(f"/v1/instances/{name}/connect")).status_code == 202
        for cid in ids:
            await wait_message(client, name, cid, {"sent", "delivered", "read"}, timeout=15)
        assert (await outbox_texts(client, name)) == [f"w{i}" for i in range(5)]


async def test_readyz_reports_queue(client: httpx.AsyncClient) -> None:
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["queue"] == "ok"
    await create_instance(client)
