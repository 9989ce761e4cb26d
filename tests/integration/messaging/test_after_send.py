"""After the send: edit, revoke (and cancel), forward, react, read, pin and vote through the API
on the simulator, the events of a contact's edits, revokes, reactions and votes, and the
record of each change on the send's record. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import update

from tests.conftest import linked_instance, wait_status
from tests.integration.messaging.conftest import wait_message
from tests.support.polling import eventually
from wagate.db import utcnow
from wagate.models import Message

TO = "5511987654321"
JID = f"{TO}@s.whatsapp.net"


async def send(client: httpx.AsyncClient, name: str, kind: str = "text", **body: Any) -> Any:
    body.setdefault("to", TO)
    if kind == "text":
        body.setdefault("text", "hello")
    response = await client.post(f"/v1/instances/{name}/send/{kind}", json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def outbox(client: httpx.AsyncClient, name: str, kind: str) -> list[dict[str, Any]]:
    items = (await client.get(f"/v1/instances/{name}/simulator/outbox")).json()["messages"]
    return [item for item in items if item["kind"] == kind]


async def events(seen: list[Any], event: str, count: int = 1) -> list[dict[str, Any]]:
    async def found() -> list[dict[str, Any]] | None:
        items = [item.data for item in seen if item.event == event]
        return items if len(items) >= count else None

    result: list[dict[str, Any]] = await eventually(found, timeout=10, what=event)
    return result


async def test_edit_within_the_window_and_after_it(
    app: FastAPI, client: httpx.AsyncClient, events_of: Any
) -> None:
    name = (await linked_instance(client))["name"]
    seen = events_of(app, name)
    sent = await send(client, name)
    url = f"/v1/instances/{name}/messages/{sent['correlation_id']}"
    response = await client.patch(url, json={"text": "hello, fixed"})
    assert response.status_code == 200, response.text
    record = response.json()
    assert record["edited_text"] == "hello, fixed" and record["edited_at"]
    assert (await client.get(url)).json()["edited_text"] == "hello, fixed"
    edits = await outbox(client, name, "edit")
    assert [e["body"] for e in edits] == [
        {"message_id": sent["message_id"], "text": "hello, fixed"}
    ]
    (edited,) = await events(seen, "message_edited")
    assert edited["message_id"] == sent["message_id"] and edited["from_me"] is True
    assert edited["correlation_id"] == sent["correlation_id"] and edited["text"] == "hello, fixed"
    # bad input: 422 naming the field; no text at all
    bad = await client.patch(url, json={"text": ""})
    assert bad.status_code == 422
    assert (await client.patch(url, json={})).status_code == 422
    assert (await client.patch(url[:-3] + "nop", json={"text": "x"})).status_code == 404
    # WhatsApp's window: 15 minutes after the send
    async with app.state.wagate.db.transaction() as session:
        await session.execute(
            update(Message)
            .where(Message.correlation_id == sent["correlation_id"])
            .values(sent_at=utcnow() - timedelta(minutes=16))
        )
    late = await client.patch(url, json={"text": "too late"})
    assert late.status_code == 409
    assert late.json()["error"]["code"] == "edit_window_passed"
    assert len(await outbox(client, name, "edit")) == 1


async def test_edit_a_caption_and_not_a_location(client: httpx.AsyncClient) -> None:
    name = (await linked_instance(client))["name"]
    location = await send(client, name, "location", latitude=1.0, longitude=2.0)
    url = f"/v1/instances/{name}/messages/{location['correlation_id']}"
    response = await client.patch(url, json={"text": "x"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "not_editable"


async def test_revoke_for_everyone_and_for_me(
    app: FastAPI, client: httpx.AsyncClient, events_of: Any
) -> None:
    name = (await linked_instance(client))["name"]
    seen = events_of(app, name)
    first, second = await send(client, name), await send(client, name, text="two")
    url = f"/v1/instances/{name}/messages/{first['correlation_id']}"
    response = await client.delete(url, params={"for": "everyone"})
    assert response.status_code == 200, response.text
    record = response.json()
    assert record["revoked"] is True and record["revoked_for"] == "everyone"
    revokes = await outbox(client, name, "revoke")
    assert [r["body"] for r in revokes] == [{"message_id": first["message_id"]}]
    (revoked,) = await events(seen, "message_revoked")
    assert revoked["correlation_id"] == first["correlation_id"] and revoked["from_me"] is True
    # a revoked message can no longer be edited; revoking it again changes nothing
    edit = await client.patch(url, json={"text": "x"})
    assert edit.status_code == 409 and edit.json()["error"]["code"] == "message_revoked"
    assert (await client.delete(url)).status_code == 200
    assert len(await outbox(client, name, "revoke")) == 1
    # for me: recorded, the network sees nothing
    mine = f"/v1/instances/{name}/messages/{second['correlation_id']}"
    response = await client.delete(mine, params={"for": "me"})
    assert response.status_code == 200 and response.json()["revoked_for"] == "me"
    assert len(await outbox(client, name, "revoke")) == 1
    assert (await client.delete(mine, params={"for": "all"})).status_code == 422


async def test_revoking_a_queued_message_cancels_it(
    app: FastAPI, client: httpx.AsyncClient, events_of: Any
) -> None:
    name = (await linked_instance(client))["name"]
    seen = events_of(app, name)
    # the instance is not connected: the send stays queued
    assert (await client.post(f"/v1/instances/{name}/disconnect")).status_code in (200, 202)
    queued = await client.post(
        f"/v1/instances/{name}/send/text?async=true", json={"to": TO, "text": "never"}
    )
    assert queued.status_code == 202
    correlation_id = queued.json()["correlation_id"]
    url = f"/v1/instances/{name}/messages/{correlation_id}"
    response = await client.delete(url)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert (await client.post(f"/v1/instances/{name}/connect")).status_code in (200, 202)
    await wait_status(client, name, "connected")
    # another send after it goes out; the cancelled one never does
    after = await client.post(f"/v1/instances/{name}/send/text", json={"to": TO, "text": "after"})
    assert after.status_code == 200, after.text
    texts = [item["body"].get("text") for item in await outbox(client, name, "text")]
    assert texts == ["after"]
    assert (await client.get(url)).json()["status"] == "cancelled"
    acks = [
        a for a in await events(seen, "message_ack", 2) if a["correlation_id"] == correlation_id
    ]
    assert acks == [{"correlation_id": correlation_id, "status": "cancelled", "attempts": 0}]
    listed = await client.get(f"/v1/instances/{name}/messages", params={"status": "cancelled"})
    assert [m["correlation_id"] for m in listed.json()["messages"]] == [correlation_id]


async def test_forward_react_read_pin(client: httpx.AsyncClient) -> None:
    name = (await linked_instance(client))["name"]
    sent = await send(client, name, text="forward me")
    chat = f"/v1/instances/{name}/chats/{TO}/messages/{sent['message_id']}"
    other = "4915112345678"
    forwarded = await client.post(chat + "/forward", json={"to": other})
    assert forwarded.status_code == 200, forwarded.text
    (row,) = await outbox(client, name, "forward")
    assert row["to"] == f"{other}@s.whatsapp.net"
    assert row["body"]["content"]["text"] == "forward me"
    record = (await client.get(f"/v1/instances/{name}/messages/{sent['correlation_id']}")).json()
    assert [f["to"] for f in record["forwards"]] == [f"{other}@s.whatsapp.net"]
    assert record["forwards"][0]["message_id"] == forwarded.json()["message_id"]
    not_on = await client.post(chat + "/forward", json={"to": "5511900000000"})
    assert not_on.status_code == 422 and not_on.json()["error"]["code"] == "not_on_whatsapp"
    assert (await client.post(chat + "/forward", json={"to": "abc"})).status_code == 422
    assert (await client.post(chat + "/react", json={"emoji": "👍"})).status_code == 200
    assert (await client.post(chat + "/react", json={"emoji": ""})).status_code == 200
    reactions = [r["body"]["emoji"] for r in await outbox(client, name, "reaction")]
    assert reactions == ["👍", ""]
    assert (await client.post(chat + "/read")).status_code == 204
    assert (await client.post(chat + "/pin", json={"duration_s": 86400})).status_code == 200
    assert (await client.post(chat + "/pin", json={"pin": False})).status_code == 200
    assert (await client.post(chat + "/pin", json={"duration_s": 5})).status_code == 422
    pins = [p["body"] for p in await outbox(client, name, "pin")]
    assert pins == [
        {"message_id": sent["message_id"], "pin": True, "duration_s": 86400},
        {"message_id": sent["message_id"], "pin": False},
    ]
    missing = f"/v1/instances/{name}/chats/{TO}/messages/NOPE/react"
    response = await client.post(missing, json={"emoji": "x"})
    assert response.status_code == 404 and response.json()["error"]["code"] == "message_not_found"


async def test_votes_both_ways(app: FastAPI, client: httpx.AsyncClient, events_of: Any) -> None:
    name = (await linked_instance(client))["name"]
    seen = events_of(app, name)
    poll = await send(client, name, "poll", question="Lunch?", options=["pizza", "sushi"])
    own = f"/v1/instances/{name}/polls/{poll['correlation_id']}/vote"
    assert (await client.post(own, json={"options": ["pizza"]})).status_code == 200
    chat = f"/v1/instances/{name}/chats/{TO}/messages/{poll['message_id']}/vote"
    assert (await client.post(chat, json={"options": []})).status_code == 200
    votes = [v["body"]["options"] for v in await outbox(client, name, "vote")]
    assert votes == [["pizza"], []]
    unknown = await client.post(own, json={"options": ["tacos"]})
    assert unknown.status_code == 422
    assert unknown.json()["error"]["code"] == "poll_option_unknown"
    assert (await client.post(own, json={"options": ["pizza", "sushi"]})).status_code == 422
    assert (await client.post(own, json={"options": ["pizza", "pizza"]})).status_code == 422
    text = await send(client, name)
    not_poll = f"/v1/instances/{name}/polls/{text['correlation_id']}/vote"
    response = await client.post(not_poll, json={"options": ["pizza"]})
    assert response.status_code == 422 and response.json()["error"]["code"] == "not_a_poll"
    # the contact votes in the instance's poll
    control = f"/v1/instances/{name}/simulator/vote"
    body = {"from": TO, "message_id": poll["message_id"], "options": ["sushi"]}
    assert (await client.post(control, json=body)).status_code == 204
    (vote,) = await events(seen, "poll_vote")
    assert vote["options"] == ["sushi"] and vote["from"] == JID and vote["from_me"] is False
    assert vote["correlation_id"] == poll["correlation_id"]
    assert vote["poll_message_id"] == poll["message_id"]


async def test_a_contact_edits_revokes_and_reacts(
    app: FastAPI, client: httpx.AsyncClient, events_of: Any
) -> None:
    name = (await linked_instance(client))["name"]
    seen = events_of(app, name)
    sent = await send(client, name)
    inbound = f"/v1/instances/{name}/simulator/inbound"
    got = await client.post(
        inbound,
        json={"from": TO, "text": "hi", "reply_to": sent["message_id"], "forwarded": True},
    )
    message_id = got.json()["message_id"]
    (received,) = await events(seen, "message_received")
    assert received["forwarded"] is True and received["quoted"] == {
        "message_id": sent["message_id"]
    }
    assert "ephemeral" not in received
    edit = {"from": TO, "message_id": message_id, "text": "hi there"}
    assert (await client.post(f"/v1/instances/{name}/simulator/edit", json=edit)).status_code == 204
    (edited,) = await events(seen, "message_edited")
    assert edited == {
        "message_id": message_id,
        "chat": JID,
        "from": JID,
        "from_me": False,
        "text": "hi there",
        "timestamp": edited["timestamp"],
    }
    # a contact can only change its own messages
    wrong = {"from": "4915112345678", "message_id": message_id}
    response = await client.post(f"/v1/instances/{name}/simulator/revoke", json=wrong)
    assert response.status_code == 404
    revoke = {"from": TO, "message_id": message_id}
    response = await client.post(f"/v1/instances/{name}/simulator/revoke", json=revoke)
    assert response.status_code == 204
    (revoked,) = await events(seen, "message_revoked")
    assert revoked["message_id"] == message_id and "correlation_id" not in revoked
    react = {"from": TO, "kind": "reaction", "message_id": sent["message_id"], "emoji": "❤️"}
    assert (await client.post(inbound, json=react)).status_code == 200
    (reaction,) = await events(seen, "message_reaction")
    assert reaction["emoji"] == "❤️" and reaction["removed"] is False
    assert reaction["correlation_id"] == sent["correlation_id"]
    # the received message can be forwarded and reacted to by the instance
    chat = f"/v1/instances/{name}/chats/{TO}/messages/{message_id}"
    assert (await client.post(chat + "/forward", json={"to": "4915112345678"})).status_code == 200
    assert (await client.post(chat + "/react", json={"emoji": "👍"})).status_code == 200
    order = [item.event for item in seen if item.event != "message_status"]
    assert order.index("message_edited") < order.index("message_revoked")
    await wait_message(client, name, sent["correlation_id"], {"read"})
