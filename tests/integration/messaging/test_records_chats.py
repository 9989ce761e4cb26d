"""Message records, receipts, idempotency, contacts, chats and received media."""

from __future__ import annotations

import asyncio
import base64

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from tests.conftest import create_instance, linked_instance
from tests.integration.messaging.conftest import png_bytes, send_texts, wait_message
from wagate.models import Message

TO = "5511987654321"


async def test_records_and_receipts(client: httpx.AsyncClient, app: FastAPI) -> None:
    name = (await linked_instance(client))["name"]
    ids = await send_texts(client, name, 5, TO)
    record = await wait_message(client, name, ids[0], {"read"})
    assert record["kind"] == "text" and record["message_id"] and record["sent_at"]
    for correlation_id in ids:
        await wait_message(client, name, correlation_id, {"read"})
    pages: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get(f"/v1/instances/{name}/messages", params=params)).json()
        pages.extend(m["correlation_id"] for m in page["messages"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == list(reversed(ids))
    read = (await client.get(f"/v1/instances/{name}/messages", params={"status": "read"})).json()
    assert len(read["messages"]) == 5
    for status in ("sent", "delivered"):
        shown = await client.get(f"/v1/instances/{name}/messages", params={"status": status})
        assert shown.json()["messages"] == [], status
    # Stored as sent with the receipts' times: a receipt leaves the indexed column alone.
    async with app.state.wagate.db.session() as session:
        stored = await session.execute(
            select(Message.status, Message.delivered_at, Message.read_at).where(
                Message.correlation_id.in_(ids)
            )
        )
        rows = stored.all()
    assert len(rows) == 5
    assert all(status == "sent" and delivered and read for status, delivered, read in rows)
    queued = (
        await client.get(f"/v1/instances/{name}/messages", params={"status": "queued"})
    ).json()
    assert queued["messages"] == []
    for params in ({"status": "lost"}, {"limit": 0}, {"limit": 501}, {"cursor": "abc"}):
        response = await client.get(f"/v1/instances/{name}/messages", params=params)
        assert response.status_code == 422, params
    assert (await client.get(f"/v1/instances/{name}/messages/nope")).status_code == 404


async def test_idempotency_key(client: httpx.AsyncClient) -> None:
    name = (await linked_instance(client))["name"]
    url = f"/v1/instances/{name}/send/text"
    headers = {"Idempotency-Key": "order-42"}
    first = await client.post(url, json={"to": TO, "text": "once"}, headers=headers)
    second = await client.post(url, json={"to": TO, "text": "once"}, headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    outbox = (await client.get(f"/v1/instances/{name}/simulator/outbox")).json()["messages"]
    assert len(outbox) == 1
    other = await client.post(url, json={"to": TO, "text": "another"}, headers=headers)
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "conflict"
    # async: the same 202 again, nothing queued twice
    key = {"Idempotency-Key": "async-1"}
    a = await client.post(url + "?async=true", json={"to": TO, "text": "q"}, headers=key)
    b = await client.post(url + "?async=true", json={"to": TO, "text": "q"}, headers=key)
    assert a.status_code == b.status_code == 202
    assert a.json() == b.json() and b.headers["location"] == a.headers["location"]
    # another instance may use the same key
    other_name = (await linked_instance(client))["name"]
    response = await client.post(
        f"/v1/instances/{other_name}/send/text", json={"to": TO, "text": "once"}, headers=headers
    )
    assert response.status_code == 200
    assert response.json()["correlation_id"] != first.json()["correlation_id"]
    too_long = {"Idempotency-Key": "k" * 256}
    assert (
        await client.post(url, json={"to": TO, "text": "x"}, headers=too_long)
    ).status_code == 422


async def test_contacts_and_chats(client: httpx.AsyncClient) -> None:
    name = (await linked_instance(client))["name"]
    response = await client.post(
        f"/v1/instances/{name}/contacts/check",
        json={"phones": ["+55 11 98765-4321", "5511900000000"]},
    )
    assert response.status_code == 200, response.text
    assert response.json()["results"] == [
        {"phone": "+55 11 98765-4321", "on_whatsapp": True, "jid": "5511987654321@s.whatsapp.net"},
        {"phone": "5511900000000", "on_whatsapp": False, "jid": None},
    ]
    bad = await client.post(f"/v1/instances/{name}/contacts/check", json={"phones": [TO, "x"]})
    assert (
        bad.status_code == 422
        and bad.json()["error"]["details"]["fields"][0]["field"] == "phones.1"
    )
    empty = await client.post(f"/v1/instances/{name}/contacts/check", json={"phones": []})
    assert empty.status_code == 422
    read = await client.post(f"/v1/instances/{name}/chats/{TO}/read", json={"message_ids": ["A1"]})
    assert read.status_code == 204
    group = await client.post(
        f"/v1/instances/{name}/chats/1203630@g.us/read", json={"message_ids": ["A1"], "sender": TO}
    )
    assert group.status_code == 204
    for state in ("composing", "recording", "paused"):
        response = await client.post(
            f"/v1/instances/{name}/chats/{TO}/presence", json={"state": state}
        )
        assert response.status_code == 204
    bad_state = await client.post(f"/v1/instances/{name}/chats/{TO}/presence", json={"state": "x"})
    assert bad_state.status_code == 422
    bad_chat = await client.post(
        f"/v1/instances/{name}/chats/nope/presence", json={"state": "paused"}
    )
    assert bad_chat.status_code == 422
    idle = (await create_instance(client))["name"]
    response = await client.post(f"/v1/instances/{idle}/contacts/check", json={"phones": [TO]})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "instance_not_connected"


async def test_received_media(client: httpx.AsyncClient, app: FastAPI, events_of: object) -> None:
    name = (await linked_instance(client))["name"]
    seen = events_of(app, name)  # type: ignore[operator]
    image = png_bytes()
    response = await client.post(
        f"/v1/instances/{name}/simulator/inbound",
        json={
            "from": TO,
            "kind": "image",
            "caption": "look",
            "media": {"base64": base64.b64encode(image).decode(), "mimetype": "image/png"},
        },
    )
    assert response.status_code in (200, 201), response.text
    message_id = response.json()["message_id"]
    media = await get_media(client, name, message_id)
    assert media.status_code == 200
    assert media.content == image
    assert media.headers["content-type"] == "image/png"
    # The media is stored before the event is published: wait for the event.
    for _ in range(500):
        received = [e for e in seen if e.event == "message_received"]
        if received:
            break
        await asyncio.sleep(0.01)
    assert (
        received and received[0].data["media"]["url"] == f"/v1/instances/{name}/media/{message_id}"
    )
    assert (await client.get(f"/v1/instances/{name}/media/unknown")).status_code == 404
    # WAGATE_MEDIA_RETENTION_S over: the received-media row is gone, but the media is still
    # served as long as the history keeps its message (tests/integration/history cover the end)
    app.state.wagate.settings.media_retention_s = 0
    response = await client.post(
        f"/v1/instances/{name}/simulator/inbound",
        json={
            "from": TO,
            "kind": "image",
            "media": {"base64": base64.b64encode(image).decode(), "mimetype": "image/png"},
        },
    )
    expired_id = response.json()["message_id"]
    for _ in range(100):  # the event is handled when its receipt arrives: wait for it
        if any(e.data.get("message_id") == expired_id for e in seen):
            break
        await asyncio.sleep(0.02)
    kept = await get_media(client, name, expired_id)
    assert kept.status_code == 200 and kept.content == image


async def get_media(client: httpx.AsyncClient, name: str, message_id: str) -> httpx.Response:
    for _ in range(200):  # inbound messages are handled in the background
        response = await client.get(f"/v1/instances/{name}/media/{message_id}")
        if response.status_code != 404:
            return response
        await asyncio.sleep(0.02)
    return response
