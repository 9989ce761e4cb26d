"""GET /v1/instances/{name}/events over a real loopback server (SSE needs real streaming)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import ADMIN_TOKEN, create_instance, linked_instance
from tests.integration.instance_helpers import SseReader, assert_error, token_headers
from wagate.events.bus import ADMIN_OWNER


@pytest.fixture
async def http(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=base_url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10
    ) as client:
        yield client


async def test_events_while_linking(http: httpx.AsyncClient) -> None:
    instance = await create_instance(http)
    name = instance["name"]
    headers = token_headers(instance["token"], api_key=True)
    async with http.stream("GET", f"/v1/instances/{name}/events", headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        reader = SseReader(response)
        assert (await http.post(f"/v1/instances/{name}/connect")).status_code == 202
        connecting = await reader.until("connection_update", "connecting")
        assert connecting["instance"] == name
        assert connecting["id"].startswith("evt_")
        assert connecting["data"]["previous"] == "disconnected"
        pairing = await reader.next()
        assert pairing[0] == "connection_update"
        assert pairing[1]["data"]["status"] == "pairing"
        assert pairing[1]["data"]["previous"] == "connecting"
        qr = await reader.until("qr_updated")
        assert qr["data"]["code"].startswith("2@") and qr["data"]["expires_at"]
        current = (await http.get(f"/v1/instances/{name}/qr")).json()
        assert current["code"] == qr["data"]["code"]
        assert (
            await http.post(
                f"/v1/instances/{name}/simulator/scan", json={"phone": "+5511966665555"}
            )
        ).status_code == 204
        connected = await reader.until("connection_update", "connected")
        assert connected["data"] == {
            "status": "connected",
            "previous": "pairing",
            "reason": None,
            "jid": "5511966665555@s.whatsapp.net",
        }
        # an inbound message reaches the stream as message_received
        sent = await http.post(
            f"/v1/instances/{name}/simulator/inbound",
            json={"from": "+5511955554444", "text": "hello"},
        )
        received = await reader.until("message_received")
        assert received["data"]["message_id"] == sent.json()["message_id"]
        assert received["data"]["text"] == "hello"
        assert received["data"]["from"] == "5511955554444@s.whatsapp.net"
        # the stream says where it starts from
        assert any("status disconnected" in c for c in reader.comments)


async def test_keepalive_and_end_on_delete(http: httpx.AsyncClient) -> None:
    instance = await create_instance(http)
    name = instance["name"]
    async with http.stream("GET", f"/v1/instances/{name}/events") as response:
        reader = SseReader(response)
        lines: list[str] = []

        async def read_all() -> None:
            async for line in reader.lines:
                lines.append(line)

        task = asyncio.create_task(read_all())
        await asyncio.sleep(1.3)  # sse_keepalive_s is 1 s in the tests
        assert ": keep-alive" in lines
        assert (await http.delete(f"/v1/instances/{name}")).status_code == 204
        await asyncio.wait_for(task, 5)  # the stream of a deleted instance ends


async def test_events_auth(http: httpx.AsyncClient) -> None:
    mine = await create_instance(http)
    theirs = await create_instance(http)
    async with httpx.AsyncClient(base_url=str(http.base_url), timeout=10) as anonymous:
        response = await anonymous.get(f"/v1/instances/{mine['name']}/events")
        assert_error(response, 401, "unauthorized")
        response = await anonymous.get(
            f"/v1/instances/{theirs['name']}/events", headers=token_headers(mine["token"])
        )
        assert_error(response, 404, "not_found")
        response = await anonymous.get(
            "/v1/instances/nope-404/events", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
        assert_error(response, 404, "not_found")


async def test_a_client_gone_before_the_first_byte_leaves_no_subscriber(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    """The connection is gone when the response starts (the server's send fails): the stream's
    generator never runs, yet the subscriber it was given is removed."""
    name = (await create_instance(client))["name"]
    bus = app.state.wagate.bus
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": f"/v1/instances/{name}/events",
        "raw_path": f"/v1/instances/{name}/events".encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"authorization", f"Bearer {ADMIN_TOKEN}".encode()), (b"host", b"test")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
    }
    started: list[int] = []

    async def receive() -> dict[str, object]:
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        if message["type"] == "http.response.start":
            started.append(int(message["status"]))  # type: ignore[call-overload]
            raise OSError("client gone")

    with pytest.raises(Exception):  # noqa: B017 - Starlette reports it as ClientDisconnect
        await app(scope, receive, send)
    assert started == [200]
    assert not bus.streams._subscribers.get(name)
    assert bus.streams_of(ADMIN_OWNER) == 0  # its slot of the per-token cap is free again


async def test_account_events_reach_the_stream(http: httpx.AsyncClient) -> None:
    instance = await linked_instance(http)
    name = instance["name"]
    contact = "5511955554444"
    jid = f"{contact}@s.whatsapp.net"
    async with http.stream("GET", f"/v1/instances/{name}/events") as response:
        reader = SseReader(response)
        await http.post(f"/v1/instances/{name}/chats/{contact}/presence/subscribe")
        await http.post(
            f"/v1/instances/{name}/simulator/presence", json={"from": contact, "state": "available"}
        )
        assert (await reader.until("presence"))["data"]["contact"] == jid
        call = await http.post(f"/v1/instances/{name}/simulator/calls", json={"from": contact})
        offered = await reader.until("call", "offered")
        assert offered["data"]["call_id"] == call.json()["call_id"]
        await http.patch(f"/v1/instances/{name}/simulator/contacts/{contact}", json={"about": "x"})
        assert (await reader.until("contact_update"))["data"] == {"contact": jid, "about": "x"}
        await http.post(f"/v1/instances/{name}/blocklist", json={"action": "block", "contact": jid})
        assert (await reader.until("blocklist_update"))["data"]["action"] == "block"


async def test_group_events_on_the_stream(http: httpx.AsyncClient) -> None:
    instance = await create_instance(http)
    name = instance["name"]
    assert (await http.post(f"/v1/instances/{name}/connect")).status_code == 202
    async with http.stream("GET", f"/v1/instances/{name}/events") as response:
        reader = SseReader(response)
        await reader.until("qr_updated")
        await http.post(f"/v1/instances/{name}/simulator/scan", json={"phone": "+5511966665555"})
        await reader.until("connection_update", "connected")
        created = await http.post(
            f"/v1/instances/{name}/simulator/groups",
            json={"subject": "Stream", "creator": "+5511955554444"},
        )
        group = created.json()["jid"]
        added = await reader.until("group_participants")
        assert added["data"]["group"] == group and added["data"]["action"] == "added"
        assert added["data"]["participants"] == [
            {"jid": "5511966665555@s.whatsapp.net", "phone": "5511966665555"}
        ]
        await http.patch(f"/v1/instances/{name}/simulator/groups/{group}", json={"locked": True})
        update = await reader.until("group_update")
        assert update["data"]["changes"] == {"locked": True}
        assert update["data"]["actor"] == {
            "jid": "5511955554444@s.whatsapp.net",
            "phone": "5511955554444",
        }


async def test_send_paused_reaches_the_stream(http: httpx.AsyncClient) -> None:
    name = (await linked_instance(http))["name"]
    faults = {"fail_next": 1, "fail_kind": "rate_limited"}
    assert (await http.post(f"/v1/instances/{name}/simulator/faults", json=faults)).is_success
    async with http.stream("GET", f"/v1/instances/{name}/events") as response:
        reader = SseReader(response)
        sent = await http.post(
            f"/v1/instances/{name}/send/text?async=true", json={"to": "5511955554444", "text": "x"}
        )
        assert sent.status_code == 202, sent.text
        paused = (await reader.until("send_paused"))["data"]
        assert paused["reason"] == "rate_limited" and paused["trips"] == 1
