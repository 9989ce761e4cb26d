"""The account surface on the simulator, on both databases: contacts, blocklist, profile,
privacy, presence, chat settings, LIDs, calls, and the events each one gives."""

from __future__ import annotations

import asyncio
import base64
import io
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image

from tests.conftest import linked_instance
from tests.support.polling import eventually

CONTACT = "5511987654321"
JID = f"{CONTACT}@s.whatsapp.net"
NOT_ON_WHATSAPP = "5511987650000"

Events = Callable[[FastAPI, str], list[Any]]


@pytest.fixture
async def events_of() -> AsyncIterator[Events]:
    tasks: list[asyncio.Task[None]] = []

    def start(app: FastAPI, name: str) -> list[Any]:
        seen: list[Any] = []

        async def pump() -> None:
            async with app.state.wagate.bus.subscribe(name) as queue:
                while (item := await queue.get()) is not None:
                    seen.append(item)

        tasks.append(asyncio.create_task(pump()))
        return seen

    yield start
    for task in tasks:
        task.cancel()


async def events_named(seen: list[Any], name: str, count: int) -> list[dict[str, Any]]:
    def found() -> list[dict[str, Any]] | None:
        data = [e.data for e in seen if e.event == name]
        return data if len(data) >= count else None

    async def check() -> list[dict[str, Any]] | None:
        return found()

    return await eventually(check, timeout=5, interval=0.02, what=f"{count} {name} events")


def field_of(response: httpx.Response) -> set[str]:
    assert response.status_code == 422, response.text
    return {f["field"] for f in response.json()["error"]["details"]["fields"]}


async def test_contact_card_lid_and_picture(client: httpx.AsyncClient) -> None:
    name = (await linked_instance(client))["name"]
    base = f"/v1/instances/{name}"
    card = (await client.get(f"{base}/contacts/+55 11 98765-4321")).json()
    assert card["jid"] == JID and card["phone"] == CONTACT and card["on_whatsapp"] is True
    assert card["lid"].endswith("@lid") and card["picture_url"] is None
    assert card["push_name"] is None and card["business"] is False
    absent = (await client.get(f"{base}/contacts/{NOT_ON_WHATSAPP}")).json()
    assert absent["on_whatsapp"] is False and absent["lid"] is None
    assert (await client.get(f"{base}/contacts/{CONTACT}/picture")).status_code == 404
    # The other side sets a name, about and picture: the card shows them.
    change = {"push_name": "Maria", "about": "busy", "picture": True}
    response = await client.patch(f"{base}/simulator/contacts/{CONTACT}", json=change)
    assert response.status_code == 204, response.text
    card = (await client.get(f"{base}/contacts/{JID}")).json()
    assert card["push_name"] == "Maria" and card["about"] == "busy"
    picture = (await client.get(f"{base}/contacts/{CONTACT}/picture")).json()
    assert picture["url"] == card["picture_url"] and picture["id"]
    # LID both ways.
    lid = (await client.get(f"{base}/contacts/{CONTACT}/lid")).json()
    assert lid == {"lid": card["lid"], "jid": JID, "phone": CONTACT}
    assert (await client.get(f"{base}/lids/{card['lid']}")).json() == lid
    assert (await client.get(f"{base}/lids/{card['lid'].split('@')[0]}")).json() == lid
    unknown = await client.get(f"{base}/lids/999999999999999@lid")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "lid_not_found"
    missing = await client.get(f"{base}/contacts/{NOT_ON_WHATSAPP}/lid")
    assert missing.status_code == 404
    # Bad input names the field.
    assert field_of(await client.get(f"{base}/contacts/abc")) == {"contact"}
    assert field_of(await client.get(f"{base}/contacts/abc/picture")) == {"contact"}
    assert field_of(await client.get(f"{base}/contacts/123@g.us/lid")) == {"contact"}
    assert field_of(await client.get(f"{base}/lids/abc@lid")) == {"lid"}
    assert (await client.get(f"/v1/instances/nope/contacts/{CONTACT}")).status_code == 404


async def test_blocklist_refuses_sends_and_drops_inbound(
    client: httpx.AsyncClient, app: FastAPI, events_of: Events
) -> None:
    name = (await linked_instance(client))["name"]
    base = f"/v1/instances/{name}"
    seen = events_of(app, name)
    assert (await client.get(f"{base}/blocklist")).json() == {"contacts": []}
    response = await client.post(f"{base}/blocklist", json={"action": "block", "contact": CONTACT})
    assert response.json() == {"contacts": [JID]}
    again = await client.post(f"{base}/blocklist", json={"action": "block", "contact": JID})
    assert again.json() == {"contacts": [JID]}  # no second event either
    # A send to a blocked contact is refused; its messages never arrive.
    sent = await client.post(f"{base}/send/text", json={"to": CONTACT, "text": "hi"})
    assert sent.status_code == 409, sent.text
    assert sent.json()["error"]["code"] == "contact_blocked"
    inbound = await client.post(f"{base}/simulator/inbound", json={"from": CONTACT, "text": "x"})
    assert inbound.status_code == 200
    unblocked = await client.post(
        f"{base}/blocklist", json={"action": "unblock", "contact": CONTACT}
    )
    assert unblocked.json() == {"contacts": []}
    events = await events_named(seen, "blocklist_update", 2)
    assert events == [
        {"contact": JID, "action": "block"},
        {"contact": JID, "action": "unblock"},
    ]
    assert not [e for e in seen if e.event == "message_received"]
    sent = await client.post(f"{base}/send/text", json={"to": CONTACT, "text": "hi"})
    assert sent.status_code == 200, sent.text
    bad = await client.post(f"{base}/blocklist", json={"action": "mute", "contact": CONTACT})
    assert field_of(bad) == {"action"}
    bad = await client.post(f"{base}/blocklist", json={"action": "block", "contact": "x"})
    assert field_of(bad) == {"contact"}
    group = await client.post(f"{base}/blocklist", json={"action": "block", "contact": "1@g.us"})
    assert field_of(group) == {"contact"}
    absent = {"action": "block", "contact": NOT_ON_WHATSAPP}
    refused = await client.post(f"{base}/blocklist", json=absent)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "not_on_whatsapp"


def jpeg_free_png() -> str:
    image = Image.new("RGB", (900, 700), (200, 30, 30))
    out = io.BytesIO()
    image.save(out, "PNG")
    return base64.b64encode(out.getvalue()).decode()


async def test_profile_and_picture_survive_a_restart(client: httpx.AsyncClient) -> None:
    name = (await linked_instance(client))["name"]
    base = f"/v1/instances/{name}"
    profile = (await client.get(f"{base}/profile")).json()
    assert profile["jid"].endswith("@s.whatsapp.net") and profile["name"] is None
    changed = await client.patch(f"{base}/profile", json={"name": "Acme", "about": "9-17"})
    assert changed.status_code == 200
    assert changed.json()["name"] == "Acme" and changed.json()["about"] == "9-17"
    kept = await client.patch(f"{base}/profile", json={"about": "closed"})
    assert kept.json()["name"] == "Acme" and kept.json()["about"] == "closed"
    pictured = await client.put(
        f"{base}/profile/picture", json={"media": {"base64": jpeg_free_png()}}
    )
    assert pictured.status_code == 200, pictured.text
    url = pictured.json()["picture_url"]
    assert url and url.startswith("https://")
    own = await client.get(f"{base}/contacts/{profile['phone']}/picture")
    assert own.json()["url"] == url
    # Reconnected (the client made anew): the account is as it was.
    assert (await client.post(f"{base}/disconnect")).status_code in (200, 202, 204)
    assert (await client.post(f"{base}/connect")).status_code == 202
    await eventually_connected(client, name)
    assert (await client.get(f"{base}/profile")).json()["picture_url"] == url
    removed = await client.delete(f"{base}/profile/picture")
    assert removed.json()["picture_url"] is None and removed.json()["name"] == "Acme"
    assert field_of(await client.patch(f"{base}/profile", json={"name": "x" * 26})) == {"name"}
    assert field_of(await client.patch(f"{base}/profile", json={"about": "x" * 140})) == {"about"}
    assert field_of(await client.patch(f"{base}/profile", json={"nick": "a"})) == {"nick"}
    not_image = {"media": {"base64": base64.b64encode(b"%PDF-1.4 hello").decode()}}
    assert "media.base64" in field_of(await client.put(f"{base}/profile/picture", json=not_image))
    assert field_of(await client.put(f"{base}/profile/picture", json={})) == {"media"}


async def eventually_connected(client: httpx.AsyncClient, name: str) -> None:
    async def connected() -> bool | None:
        body = (await client.get(f"/v1/instances/{name}")).json()
        return True if body["status"] == "connected" else None

    await eventually(connected, timeout=10, interval=0.02, what=f"{name} connected")


async def test_privacy(client: httpx.AsyncClient) -> None:
    name = (await linked_instance(client))["name"]
    base = f"/v1/instances/{name}"
    privacy = (await client.get(f"{base}/privacy")).json()
    assert set(privacy) == {
        "last_seen",
        "online",
        "profile_picture",
        "about",
        "groups_add",
        "read_receipts",
        "calls",
    }
    assert set(privacy.values()) == {"all"}
    changed = await client.patch(
        f"{base}/privacy", json={"last_seen": "contacts", "read_receipts": "none", "calls": "known"}
    )
    assert changed.status_code == 200
    assert changed.json() == {
        **privacy,
        "last_seen": "contacts",
        "read_receipts": "none",
        "calls": "known",
    }
    assert (await client.get(f"{base}/privacy")).json() == changed.json()
    for body, field in (
        ({"online": "contacts"}, "online"),
        ({"read_receipts": "contacts"}, "read_receipts"),
        ({"groups_add": "none"}, "groups_add"),
        ({"calls": "none"}, "calls"),
        ({"last_seen": "everyone"}, "last_seen"),
        ({"status": "all"}, "status"),
    ):
        assert field_of(await client.patch(f"{base}/privacy", json=body)) == {field}, body


async def test_presence_is_seen_only_when_subscribed(
    client: httpx.AsyncClient, app: FastAPI, events_of: Events
) -> None:
    name = (await linked_instance(client))["name"]
    base = f"/v1/instances/{name}"
    seen = events_of(app, name)
    assert (await client.post(f"{base}/presence", json={"state": "available"})).status_code == 204
    assert field_of(await client.post(f"{base}/presence", json={"state": "typing"})) == {"state"}
    online = {"from": CONTACT, "state": "available"}
    before = (await client.post(f"{base}/simulator/presence", json=online)).json()
    assert before == {"delivered": False}
    subscribed = await client.post(f"{base}/chats/{CONTACT}/presence/subscribe")
    assert subscribed.status_code == 204
    group = "120363000000000001@g.us"
    for body in (
        online,
        {"from": CONTACT, "state": "typing"},
        {"from": CONTACT, "state": "recording", "chat": group},
        {"from": CONTACT, "state": "unavailable"},
    ):
        response = await client.post(f"{base}/simulator/presence", json=body)
        assert response.json() == {"delivered": True}, body
    events = await events_named(seen, "presence", 4)
    assert [(e["chat"], e["state"]) for e in events] == [
        (JID, "available"),
        (JID, "typing"),
        (group, "recording"),
        (JID, "unavailable"),
    ]
    assert "last_seen" not in events[0] and events[3]["last_seen"].endswith("Z")
    assert all(e["contact"] == JID for e in events)
    groupwide = await client.post(f"{base}/chats/{group}/presence/subscribe")
    assert field_of(groupwide) == {"chat"}
    bad = {"from": CONTACT, "state": "available", "chat": group}
    assert field_of(await client.post(f"{base}/simulator/presence", json=bad)) == {"chat"}


async def test_contact_update_events(
    client: httpx.AsyncClient, app: FastAPI, events_of: Events
) -> None:
    name = (await linked_instance(client))["name"]
    base = f"/v1/instances/{name}"
    seen = events_of(app, name)
    url = f"{base}/simulator/contacts/{CONTACT}"
    assert (await client.patch(url, json={"push_name": "Maria"})).status_code == 204
    assert (await client.patch(url, json={"picture": True, "about": "hi"})).status_code == 204
    assert (await client.patch(url, json={"picture": False})).status_code == 204
    events = await events_named(seen, "contact_update", 3)
    assert events == [
        {"contact": JID, "push_name": "Maria"},
        {"contact": JID, "about": "hi", "picture": "set"},
        {"contact": JID, "picture": "removed"},
    ]
    assert field_of(await client.patch(url, json={})) == {"push_name"}
    absent = f"{base}/simulator/contacts/{NOT_ON_WHATSAPP}"
    assert field_of(await client.patch(absent, json={"about": "x"})) == {"contact"}


async def test_chat_settings(client: httpx.AsyncClient) -> None:
    name = (await linked_instance(client))["name"]
    base = f"/v1/instances/{name}"
    chats = [f"55119876543{i:02d}" for i in range(4)]
    for chat in chats[:3]:
        response = await client.patch(f"{base}/chats/{chat}", json={"pinned": True})
        assert response.status_code == 204, response.text
    over = await client.patch(f"{base}/chats/{chats[3]}", json={"pinned": True})
    assert over.status_code == 409 and over.json()["error"]["code"] == "pin_limit"
    # Archiving unpins: there is room again.
    archived = await client.patch(f"{base}/chats/{chats[0]}", json={"archived": True})
    assert archived.status_code == 204
    pinned = await client.patch(f"{base}/chats/{chats[3]}", json={"pinned": True})
    assert pinned.status_code == 204
    muted = {"muted_until": "2099-01-01T00:00:00Z", "disappearing_s": 86400}
    assert (await client.patch(f"{base}/chats/{chats[1]}", json=muted)).status_code == 204
    unmuted = await client.patch(f"{base}/chats/{chats[1]}", json={"muted_until": None})
    assert unmuted.status_code == 204
    url = f"{base}/chats/{chats[1]}"
    assert field_of(await client.patch(url, json={"disappearing_s": 3600})) == {"disappearing_s"}
    past = {"muted_until": "2000-01-01T00:00:00Z"}
    assert field_of(await client.patch(url, json=past)) == {"muted_until"}
    assert field_of(await client.patch(url, json={})) == {"archived"}
    assert field_of(await client.patch(url, json={"pinned": "maybe"})) == {"pinned"}
    assert field_of(await client.patch(f"{base}/chats/nope", json={"pinned": False})) == {"chat"}


async def test_calls_ring_and_end(
    client: httpx.AsyncClient, app: FastAPI, events_of: Events
) -> None:
    name = (await linked_instance(client))["name"]
    base = f"/v1/instances/{name}"
    seen = events_of(app, name)
    first = (await client.post(f"{base}/simulator/calls", json={"from": CONTACT})).json()
    rejected = await client.post(f"{base}/calls/{first['call_id']}/reject")
    assert rejected.status_code == 204, rejected.text
    again = await client.post(f"{base}/calls/{first['call_id']}/reject")
    assert again.status_code == 404 and again.json()["error"]["code"] == "call_not_found"
    video = {"from": CONTACT, "video": True}
    second = (await client.post(f"{base}/simulator/calls", json=video)).json()
    ended = await client.post(
        f"{base}/simulator/calls/{second['call_id']}", json={"status": "missed"}
    )
    assert ended.status_code == 204
    third = (await client.post(f"{base}/simulator/calls", json={"from": CONTACT})).json()
    await client.post(f"{base}/simulator/calls/{third['call_id']}", json={"status": "accepted"})
    events = await events_named(seen, "call", 6)
    assert [(e["call_id"], e["status"], e["video"]) for e in events] == [
        (first["call_id"], "offered", False),
        (first["call_id"], "rejected", False),
        (second["call_id"], "offered", True),
        (second["call_id"], "missed", True),
        (third["call_id"], "offered", False),
        (third["call_id"], "accepted", False),
    ]
    assert all(e["from"] == JID and e["timestamp"].endswith("Z") for e in events)
    # A blocked caller never rings.
    await client.post(f"{base}/blocklist", json={"action": "block", "contact": CONTACT})
    blocked = (await client.post(f"{base}/simulator/calls", json={"from": CONTACT})).json()
    assert blocked == {"call_id": None}
    assert field_of(await client.post(f"{base}/calls/not-an-id!/reject")) == {"call_id"}


async def test_reject_calls_setting_rejects_every_offer(
    client: httpx.AsyncClient, app: FastAPI, events_of: Events
) -> None:
    name = (await linked_instance(client, settings={"reject_calls": True}))["name"]
    base = f"/v1/instances/{name}"
    seen = events_of(app, name)
    call = (await client.post(f"{base}/simulator/calls", json={"from": CONTACT})).json()
    events = await events_named(seen, "call", 2)
    assert [e["status"] for e in events] == ["offered", "rejected"]
    assert events[1]["call_id"] == call["call_id"]


async def test_not_connected_is_409(client: httpx.AsyncClient) -> None:
    name = (await linked_instance(client))["name"]
    base = f"/v1/instances/{name}"
    await client.post(f"{base}/disconnect")
    for method, path, body in (
        ("GET", "/profile", None),
        ("GET", "/blocklist", None),
        ("PATCH", "/privacy", {"calls": "known"}),
        ("POST", "/presence", {"state": "available"}),
    ):
        response = await client.request(method, f"{base}{path}", json=body)
        assert response.status_code == 409, (path, response.text)


async def test_read_receipts_off_is_mutual(client: httpx.AsyncClient) -> None:
    name = (await linked_instance(client))["name"]
    base = f"/v1/instances/{name}"
    await client.patch(f"{base}/privacy", json={"read_receipts": "none"})
    sent = await client.post(f"{base}/send/text", json={"to": CONTACT, "text": "hi"})
    correlation_id = sent.json()["correlation_id"]

    async def delivered() -> dict[str, Any] | None:
        record = (await client.get(f"{base}/messages/{correlation_id}")).json()
        return record if record["status"] == "delivered" else None

    await eventually(delivered, timeout=5, interval=0.02, what="delivered")
    await asyncio.sleep(0.3)  # the simulator's read receipt would have come by now
    record = (await client.get(f"{base}/messages/{correlation_id}")).json()
    assert record["status"] == "delivered"
    await client.patch(f"{base}/privacy", json={"read_receipts": "all"})
    again = await client.post(f"{base}/send/text", json={"to": CONTACT, "text": "hi"})

    async def read() -> bool | None:
        record = (await client.get(f"{base}/messages/{again.json()['correlation_id']}")).json()
        return True if record["status"] == "read" else None

    await eventually(read, timeout=5, interval=0.02, what="read")
