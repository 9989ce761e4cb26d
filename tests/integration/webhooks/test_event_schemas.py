"""The events a simulator flow really sends (connect, scan, sends, inbound of every kind,
receipts, a failed send) are valid against the schemas the OpenAPI `webhooks` section
publishes, headers included."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import jsonschema_rs
from fastapi import FastAPI

from tests.conftest import linked_instance
from tests.integration.webhooks.conftest import Receiver

ME = "15551234567"


def validator(document: dict[str, Any], ref: str) -> jsonschema_rs.Validator:
    # The `$ref`s of the document point into its own components: give the validator a root
    # that carries them.
    root = {"$ref": ref, "components": document["components"]}
    return jsonschema_rs.Draft202012Validator(root, validate_formats=True)


async def test_real_events_match_the_published_schemas(
    app: FastAPI, client: httpx.AsyncClient, receiver: Receiver
) -> None:
    document = (await client.get("/openapi.json")).json()
    # With a secret, so that X-Wagate-Signature is sent and checked against its schema too.
    hook = {"url": receiver.url, "secret": "s3cret-for-signing"}
    linked = await linked_instance(client, webhook=hook)
    name = linked["name"]
    sent = await client.post(f"/v1/instances/{name}/send/text", json={"to": ME, "text": "sync"})
    assert sent.status_code == 200, sent.text
    queued = await client.post(
        f"/v1/instances/{name}/send/text", params={"async": "true"}, json={"to": ME, "text": "a"}
    )
    assert queued.status_code == 202, queued.text
    faults = {"fail_next": 1, "fail_kind": "permanent"}
    assert (await client.post(f"/v1/instances/{name}/simulator/faults", json=faults)).is_success
    failing = await client.post(
        f"/v1/instances/{name}/send/text", params={"async": "true"}, json={"to": ME, "text": "x"}
    )
    assert failing.status_code == 202, failing.text
    image = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"0" * 64).decode()
    inbound: list[dict[str, Any]] = [
        {"from": ME, "text": "hello", "reply_to": "3EB0AAAA"},
        {
            "from": ME,
            "kind": "image",
            "caption": "c",
            "media": {"base64": image, "mimetype": "image/png"},
        },
        {"from": ME, "kind": "location", "latitude": -23.5, "longitude": -46.6},
        {"from": ME, "kind": "contact", "contacts": [{"name": "Ana", "phone": "5511"}]},
        {"from": ME, "kind": "reaction", "message_id": "3EB0AAAA", "emoji": "👍"},
    ]
    received_ids: list[str] = []
    for body in inbound:
        answer = await client.post(f"/v1/instances/{name}/simulator/inbound", json=body)
        assert answer.status_code == 200, answer.text
        received_ids.append(answer.json()["message_id"])
    simulator = f"/v1/instances/{name}/simulator"
    # After the send: a contact edits and deletes what it sent, and votes in a poll.
    edit = {"from": ME, "message_id": received_ids[0], "text": "hello again"}
    assert (await client.post(f"{simulator}/edit", json=edit)).status_code == 204
    revoke = {"from": ME, "message_id": received_ids[2]}
    assert (await client.post(f"{simulator}/revoke", json=revoke)).status_code == 204
    poll = await client.post(
        f"/v1/instances/{name}/send/poll",
        json={"to": ME, "question": "Lunch?", "options": ["pizza", "sushi"]},
    )
    assert poll.status_code == 200, poll.text
    vote = {"from": ME, "message_id": poll.json()["message_id"], "options": ["pizza"]}
    assert (await client.post(f"{simulator}/vote", json=vote)).status_code == 204
    # The account: presence of a subscribed contact, a call, a contact's new name, a block.
    subscribe = await client.post(f"/v1/instances/{name}/chats/{ME}/presence/subscribe")
    assert subscribe.status_code == 204, subscribe.text
    online = {"from": ME, "state": "available"}
    assert (await client.post(f"{simulator}/presence", json=online)).status_code == 200
    assert (await client.post(f"{simulator}/calls", json={"from": ME})).status_code == 200
    renamed = await client.patch(f"{simulator}/contacts/{ME}", json={"push_name": "Ana"})
    assert renamed.status_code == 204, renamed.text
    # A group: its events, and a message in it (with the group's fields).
    created = await client.post(
        f"/v1/instances/{name}/groups", json={"subject": "Schemas", "participants": [ME]}
    )
    assert created.status_code == 201, created.text
    group = created.json()["jid"]
    changed = await client.patch(
        f"/v1/instances/{name}/groups/{group}", json={"subject": "Schemas 2", "locked": True}
    )
    assert changed.status_code == 200, changed.text
    posted = await client.post(
        f"/v1/instances/{name}/simulator/groups/{group}/messages",
        json={"from": ME, "text": "in a group", "mentions": [linked["phone"]]},
    )
    assert posted.status_code == 200, posted.text
    history = await client.post(f"{simulator}/history", json={"chats": 1, "messages": 2})
    assert history.status_code == 200, history.text
    block = {"action": "block", "contact": ME}
    assert (await client.post(f"/v1/instances/{name}/blocklist", json=block)).status_code == 200
    # Last: WhatsApp answers a send with a rate limit, and the instance's sending pauses.
    limited = {"fail_next": 1, "fail_kind": "rate_limited"}
    assert (await client.post(f"{simulator}/faults", json=limited)).is_success
    paused = await client.post(
        f"/v1/instances/{name}/send/text", params={"async": "true"}, json={"to": ME, "text": "z"}
    )
    assert paused.status_code == 202, paused.text

    def complete(r: Receiver) -> bool:
        acks = r.events("message_ack")
        return (
            len(r.events("message_received")) == len(inbound) + 1
            and len(r.events("group_update")) == 1
            and len(r.events("group_participants")) == 1
            and all(
                r.events(event)
                for event in (
                    "message_edited",
                    "message_revoked",
                    "message_reaction",
                    "poll_vote",
                    "presence",
                    "call",
                    "contact_update",
                    "blocklist_update",
                    "history_sync",
                    "send_paused",
                )
            )
            and {a["data"]["status"] for a in acks} == {"sent", "failed"}
            and len(acks) == 4  # the sync text, two queued, the poll
            and {s["data"]["status"] for s in r.events("message_status")} >= {"delivered", "read"}
            and len(r.events("qr_updated")) >= 1
        )

    await receiver.wait_for(complete, timeout=20)
    seen = {event["event"] for event in receiver.events()}
    assert seen == set(document["webhooks"])
    # The variants that leave fields out or put them in are all there.
    messages = [e["data"] for e in receiver.events("message_received")]
    received = {m["kind"]: m for m in messages if "group" not in m}
    in_group = [m for m in messages if "group" in m]
    assert [m["text"] for m in in_group] == ["in a group"] and in_group[0]["participant"]
    assert received["text"]["reply_to"] == "3EB0AAAA" and "media" in received["image"]
    failed = next(a for a in receiver.events("message_ack") if a["data"]["status"] == "failed")
    assert "error" in failed["data"] and "message_id" not in failed["data"]
    assert any("correlation_id" in s["data"] for s in receiver.events("message_status"))

    checked = 0
    for request in receiver.requests:
        envelope = request.json()
        headers = {key.lower(): value for key, value in request.headers.items()}
        post = document["webhooks"][envelope["event"]]["post"]
        body_ref = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
        errors = [e.message for e in validator(document, body_ref).iter_errors(envelope)]
        assert errors == [], (envelope, errors)
        for header in post["parameters"]:
            value = headers.get(header["name"].lower())
            if value is None:
                assert not header["required"], header["name"]
                continue
            header_schema = {**header["schema"], "components": document["components"]}
            assert jsonschema_rs.Draft202012Validator(header_schema).is_valid(value), header
        checked += 1
    assert checked >= 12
    assert all("x-wagate-signature" in {k.lower() for k in r.headers} for r in receiver.requests)
    # A payload outside its schema is caught: the check above can fail.
    wrong = {**receiver.events("message_ack")[0], "data": {"status": "maybe"}}
    ref = document["webhooks"]["message_ack"]["post"]["requestBody"]["content"]
    assert not validator(document, ref["application/json"]["schema"]["$ref"]).is_valid(wrong)
