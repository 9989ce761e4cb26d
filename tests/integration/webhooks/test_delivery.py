"""Delivery against a real receiver on loopback: signature, retries, permanent failures."""

from __future__ import annotations

import asyncio

import httpx

from tests.conftest import linked_instance
from tests.integration.webhooks.conftest import (
    Received,
    Receiver,
    deliveries,
    expected_signature,
    hook_messages,
    inbound,
    wait_deliveries,
)
from tests.support.polling import eventually
from wagate.metrics import WEBHOOK_DELIVERIES

SECRET = "s3cr3t-for-tests"


def counter(outcome: str) -> float:
    return WEBHOOK_DELIVERIES.labels(outcome)._value.get()


async def test_signed_envelope_and_headers(client: httpx.AsyncClient, receiver: Receiver) -> None:
    linked = await linked_instance(client, webhook={"url": receiver.url, "secret": SECRET})
    name = linked["name"]
    await inbound(client, name, "hello webhooks")
    await receiver.wait_for(lambda r: len(r.events("message_received")) == 1)

    log = {d["id"]: d for d in await deliveries(client, name)}
    for request in receiver.requests:
        body = request.json()
        assert request.path == "/hook"
        assert request.headers["content-type"] == "application/json"
        assert request.headers["x-wagate-event"] == body["event"]
        assert expected_signature(SECRET, request.headers["x-wagate-signature"], request.body)
        assert not expected_signature(
            "another", request.headers["x-wagate-signature"], request.body
        )
        assert set(body) == {"id", "event", "instance", "timestamp", "data"}
        assert body["id"].startswith("evt_") and body["instance"] == name
        assert request.headers["x-wagate-delivery"] in log
    message = receiver.events("message_received")[0]
    assert message["data"]["text"] == "hello webhooks"
    events = [e["event"] for e in receiver.events()]
    assert "connection_update" in events and "qr_updated" in events
    statuses = [e["data"]["status"] for e in receiver.events("connection_update")]
    assert statuses[-1] == "connected"

    async def all_delivered() -> bool:
        items = await deliveries(client, name)
        return bool(items) and all(d["status"] == "delivered" for d in items)

    await eventually(all_delivered, what="every delivery delivered")
    assert len(await deliveries(client, name)) == len(receiver.requests)
    metrics = (await client.get("/metrics")).text
    assert 'wagate_webhook_deliveries_total{outcome="delivered"}' in metrics


async def test_unsigned_without_secret(client: httpx.AsyncClient, receiver: Receiver) -> None:
    linked = await linked_instance(client, webhook={"url": receiver.url})
    await inbound(client, linked["name"], "no secret")
    await receiver.wait_for(lambda r: len(r.events("message_received")) == 1)
    assert all("x-wagate-signature" not in r.headers for r in receiver.requests)


async def test_500_three_times_then_200(client: httpx.AsyncClient, receiver: Receiver) -> None:
    linked = await linked_instance(client)
    name = linked["name"]
    answers = iter([500, 500, 500])

    async def flaky(_: Received) -> int:
        return next(answers, 200)

    receiver.respond = flaky
    retried_before = counter("retried")
    put = await client.put(
        f"/v1/instances/{name}/webhook",
        json={"url": receiver.url, "events": ["message_received"], "secret": SECRET},
    )
    assert put.status_code == 200, put.text
    await inbound(client, name, "eventually")
    await receiver.wait_for(lambda r: len(r.requests) == 4)
    event_ids = {e["id"] for e in receiver.events()}
    assert len(event_ids) == 1  # the same event, tried four times
    assert len({r.headers["x-wagate-delivery"] for r in receiver.requests}) == 1

    await wait_deliveries(client, name, "delivered", 1)
    (item,) = await deliveries(client, name)
    assert item["attempts"] == 4 and item["last_status_code"] == 200
    detail = (await client.get(f"/v1/instances/{name}/webhook/deliveries/{item['id']}")).json()
    assert [h["status_code"] for h in detail["history"]] == [500, 500, 500, 200]
    assert all(h["duration_ms"] >= 0 for h in detail["history"])
    assert detail["history"][0]["error"].startswith("HTTP 500")
    assert counter("retried") - retried_before >= 3
    await asyncio.sleep(0.3)
    assert len(receiver.requests) == 4  # delivered once it recovered, and not again


async def test_410_is_not_retried(client: httpx.AsyncClient, receiver: Receiver) -> None:
    linked = await linked_instance(client)
    name = linked["name"]

    async def gone(_: Received) -> int:
        return 410

    receiver.respond = gone
    await hook_messages(client, name, receiver.url)
    await inbound(client, name, "to nowhere")

    await wait_deliveries(client, name, "failed", 1)
    (item,) = await deliveries(client, name, "failed")
    assert item["attempts"] == 1 and item["last_status_code"] == 410
    assert item["next_attempt_at"] is None
    await asyncio.sleep(0.5)
    assert len(receiver.requests) == 1


async def test_429_and_network_errors_are_retried_until_max(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    linked = await linked_instance(client)
    name = linked["name"]

    async def busy(_: Received) -> int:
        return 429

    receiver.respond = busy
    await hook_messages(client, name, receiver.url)
    await inbound(client, name, "slow down")
    # The default in these tests is 10 attempts with delays capped at 0.3 s.
    await receiver.wait_for(lambda r: len(r.requests) == 10, timeout=15)

    await wait_deliveries(client, name, "failed", 1)
    (item,) = await deliveries(client, name)
    assert item["attempts"] == 10 and item["last_status_code"] == 429
    await asyncio.sleep(0.5)
    assert len(receiver.requests) == 10


async def test_a_send_leaves_message_ack_and_receipts(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    linked = await linked_instance(
        client, webhook={"url": receiver.url, "events": ["message_ack", "message_status"]}
    )
    name = linked["name"]
    response = await client.post(
        f"/v1/instances/{name}/send/text", json={"to": "+1 555 123 4567", "text": "hi"}
    )
    assert response.status_code == 200, response.text
    sent = response.json()
    await receiver.wait_for(
        lambda r: (
            len(r.events("message_ack")) == 1
            and {e["data"]["status"] for e in r.events("message_status")} == {"delivered", "read"}
        )
    )
    (ack,) = receiver.events("message_ack")
    assert ack["data"]["correlation_id"] == sent["correlation_id"]
    assert ack["data"]["status"] == "sent" and ack["data"]["message_id"] == sent["message_id"]
    assert {e["data"]["message_id"] for e in receiver.events("message_status")} == {
        sent["message_id"]
    }


async def test_account_events_are_delivered_signed(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    people = ["presence", "call", "contact_update", "blocklist_update"]
    linked = await linked_instance(
        client, webhook={"url": receiver.url, "events": people, "secret": SECRET}
    )
    base = f"/v1/instances/{linked['name']}"
    contact = "5511955554444"
    await client.post(f"{base}/chats/{contact}/presence/subscribe")
    await client.post(f"{base}/simulator/presence", json={"from": contact, "state": "typing"})
    await client.post(f"{base}/simulator/calls", json={"from": contact})
    await client.patch(f"{base}/simulator/contacts/{contact}", json={"push_name": "Ana"})
    await client.post(f"{base}/blocklist", json={"action": "block", "contact": contact})
    await receiver.wait_for(lambda r: {e["event"] for e in r.events()} == set(people))
    jid = f"{contact}@s.whatsapp.net"
    for request in receiver.requests:
        assert expected_signature(SECRET, request.headers["x-wagate-signature"], request.body)
    assert receiver.events("presence")[0]["data"]["state"] == "typing"
    assert receiver.events("call")[0]["data"]["from"] == jid
    assert receiver.events("contact_update")[0]["data"] == {"contact": jid, "push_name": "Ana"}
    assert receiver.events("blocklist_update")[0]["data"] == {"contact": jid, "action": "block"}


async def test_group_events_are_delivered_signed(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    linked = await linked_instance(
        client,
        webhook={
            "url": receiver.url,
            "secret": SECRET,
            "events": ["group_update", "group_participants"],
        },
    )
    name = linked["name"]
    created = await client.post(
        f"/v1/instances/{name}/groups", json={"subject": "Hooks", "participants": ["+15551234567"]}
    )
    assert created.status_code == 201, created.text
    group = created.json()["jid"]
    await client.patch(f"/v1/instances/{name}/groups/{group}", json={"subject": "Hooks 2"})
    await receiver.wait_for(lambda r: len(r.events("group_update")) == 1)
    await receiver.wait_for(lambda r: len(r.events("group_participants")) == 1)
    (update,) = receiver.events("group_update")
    assert update["data"]["group"] == group and update["data"]["changes"] == {"subject": "Hooks 2"}
    assert update["data"]["actor"] == {"jid": linked["jid"], "phone": linked["phone"]}
    (added,) = receiver.events("group_participants")
    assert added["data"]["action"] == "added"
    assert added["data"]["participants"] == [
        {"jid": "15551234567@s.whatsapp.net", "phone": "15551234567"}
    ]
    for request in receiver.requests:
        assert request.headers["x-wagate-event"] == request.json()["event"]
        assert expected_signature(SECRET, request.headers["x-wagate-signature"], request.body)


async def test_send_paused_is_delivered_signed(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    linked = await linked_instance(
        client, webhook={"url": receiver.url, "events": ["send_paused"], "secret": SECRET}
    )
    base = f"/v1/instances/{linked['name']}"
    faults = {"fail_next": 1, "fail_kind": "spam_suspected"}
    await client.post(f"{base}/simulator/faults", json=faults)
    text = {"to": "5511955554444", "text": "x"}
    sent = await client.post(f"{base}/send/text?async=true", json=text)
    assert sent.status_code == 202, sent.text
    await receiver.wait_for(lambda r: len(r.events("send_paused")) == 1)
    request = receiver.requests[0]
    assert expected_signature(SECRET, request.headers["x-wagate-signature"], request.body)
    data = receiver.events("send_paused")[0]["data"]
    assert data["reason"] == "spam_suspected" and data["cooldown_s"] == 300
    assert {e["event"] for e in receiver.events()} == {"send_paused"}
