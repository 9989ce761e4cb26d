"""The webhook routes: set/get/delete, access rules, filters, the global webhook, the log."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from tests.conftest import create_instance, free_port, linked_instance, make_settings
from tests.integration.webhooks.conftest import (
    FAST,
    Received,
    Receiver,
    app_client,
    deliveries,
    expected_signature,
    hook_messages,
    inbound,
    wait_deliveries,
)
from tests.support.polling import eventually


async def test_put_get_delete(client: httpx.AsyncClient) -> None:
    created = await create_instance(client)
    name = created["name"]
    path = f"/v1/instances/{name}/webhook"
    assert (await client.get(path)).status_code == 404

    put = await client.put(
        path, json={"url": "http://127.0.0.1:9/a", "events": ["message_received"], "secret": "x1"}
    )
    assert put.status_code == 200, put.text
    assert put.json() == {
        "url": "http://127.0.0.1:9/a",
        "events": ["message_received"],
        "secret_set": True,
    }
    assert "x1" not in put.text
    # Left out, the secret is kept; null removes it; no events means all of them.
    put = await client.put(path, json={"url": "http://127.0.0.1:9/b"})
    assert put.json() == {"url": "http://127.0.0.1:9/b", "events": None, "secret_set": True}
    got = await client.get(path)
    assert got.json() == put.json()
    instance = (await client.get(f"/v1/instances/{name}")).json()
    assert instance["webhook"] == put.json()
    put = await client.put(path, json={"url": "http://127.0.0.1:9/b", "secret": None})
    assert put.json()["secret_set"] is False

    assert (await client.delete(path)).status_code == 204
    assert (await client.get(path)).status_code == 404
    assert (await client.get(f"/v1/instances/{name}")).json()["webhook"] is None
    assert (await client.delete(path)).status_code == 204


@pytest.mark.parametrize(
    "body",
    [
        {"url": "not a url"},
        {"url": "ftp://example.com/x"},
        {"url": "http://127.0.0.1:9/", "events": ["nope"]},
        {"url": "http://127.0.0.1:9/", "events": []},
        {"url": "http://127.0.0.1:9/", "secret": ""},
        {"url": "http://127.0.0.1:9/", "extra": 1},
        {},
    ],
)
async def test_bad_bodies_are_422(client: httpx.AsyncClient, body: dict[str, object]) -> None:
    created = await create_instance(client)
    response = await client.put(f"/v1/instances/{created['name']}/webhook", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


async def test_access_rules(client: httpx.AsyncClient) -> None:
    one = await create_instance(client)
    two = await create_instance(client)
    token = {"Authorization": f"Bearer {one['token']}"}
    path = f"/v1/instances/{one['name']}/webhook"
    body = {"url": "http://127.0.0.1:9/one"}
    assert (await client.put(path, json=body, headers=token)).status_code == 200
    other = f"/v1/instances/{two['name']}/webhook"
    assert (await client.put(other, json=body, headers=token)).status_code == 404
    assert (await client.get(other + "/deliveries", headers=token)).status_code == 404
    no_auth = {"Authorization": "Bearer wrong"}
    assert (await client.get(path, headers=no_auth)).status_code == 401
    missing = "/v1/instances/nobody-here/webhook"
    assert (await client.put(missing, json=body)).status_code == 404
    assert (await client.get(missing + "/deliveries")).status_code == 404
    bad = await client.get(path + "/deliveries", params={"status": "weird"})
    assert bad.status_code == 422
    unknown = await client.post(path + "/deliveries/dlv_nope/redeliver")
    assert unknown.status_code == 404


async def test_event_filter_and_log_pages(client: httpx.AsyncClient, receiver: Receiver) -> None:
    linked = await linked_instance(
        client, webhook={"url": receiver.url, "events": ["message_received"]}
    )
    name = linked["name"]
    for n in range(5):
        await inbound(client, name, f"m{n}")
    await receiver.wait_for(lambda r: len(r.requests) == 5)
    assert {e["event"] for e in receiver.events()} == {"message_received"}

    await wait_deliveries(client, name, "delivered", 5)
    path = f"/v1/instances/{name}/webhook/deliveries"
    first = (await client.get(path, params={"limit": 3})).json()
    assert len(first["deliveries"]) == 3 and first["next_cursor"]
    rest = (await client.get(path, params={"limit": 3, "cursor": first["next_cursor"]})).json()
    assert len(rest["deliveries"]) == 2 and rest["next_cursor"] is None
    ids = [d["id"] for d in first["deliveries"] + rest["deliveries"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 5
    texts = [e["data"]["text"] for e in receiver.events()]
    assert sorted(texts) == [f"m{n}" for n in range(5)]
    assert await deliveries(client, name, "failed") == []


async def test_redeliver_after_the_receiver_is_fixed(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    linked = await linked_instance(client)
    name = linked["name"]
    broken = True

    async def answer(_: Received) -> int:
        return 404 if broken else 200

    receiver.respond = answer
    await hook_messages(client, name, receiver.url)
    await inbound(client, name, "again")

    await wait_deliveries(client, name, "failed", 1)
    (old,) = await deliveries(client, name, "failed")
    broken = False
    response = await client.post(f"/v1/instances/{name}/webhook/deliveries/{old['id']}/redeliver")
    assert response.status_code == 202, response.text
    new = response.json()
    assert new["id"] != old["id"] and new["event_id"] == old["event_id"]
    assert new["status"] == "pending"

    await wait_deliveries(client, name, "delivered", 1)
    assert len(receiver.requests) == 2
    assert receiver.requests[0].body == receiver.requests[1].body
    assert receiver.requests[1].headers["x-wagate-delivery"] == new["id"]
    assert (await deliveries(client, name, "failed"))[0]["id"] == old["id"]


async def test_delete_fails_pending_and_redeliver_needs_a_webhook(
    client: httpx.AsyncClient,
) -> None:
    linked = await linked_instance(client)
    name = linked["name"]
    # Nothing listens on this port: the delivery stays pending, retrying.
    await client.put(
        f"/v1/instances/{name}/webhook",
        json={"url": f"http://127.0.0.1:{free_port()}/x", "events": ["message_received"]},
    )
    await inbound(client, name, "never")

    async def tried() -> bool:
        items = await deliveries(client, name)
        return len(items) == 1 and items[0]["attempts"] >= 1

    await eventually(tried, what="one failed try")
    (item,) = await deliveries(client, name)
    assert item["status"] == "pending" and item["last_error"]
    assert (await client.delete(f"/v1/instances/{name}/webhook")).status_code == 204
    (item,) = await deliveries(client, name)
    assert item["status"] == "failed" and item["last_error"] == "webhook removed"
    again = await client.post(f"/v1/instances/{name}/webhook/deliveries/{item['id']}/redeliver")
    assert again.status_code == 409


async def test_global_webhook_with_filters(
    database_url: str,
    tmp_path: Path,
    receivers: Callable[[], Awaitable[Receiver]],
) -> None:
    own, shared = await receivers(), await receivers()
    settings = make_settings(
        database_url,
        tmp_path / "data",
        webhook_url=shared.url,
        webhook_secret="global-secret",
        webhook_events="message_received,connection_update",
        **FAST,
    )
    async with app_client(settings) as (_, client):
        linked = await linked_instance(
            client, webhook={"url": own.url, "events": ["qr_updated", "message_received"]}
        )
        name = linked["name"]
        await inbound(client, name, "to both")
        await own.wait_for(lambda r: len(r.events("message_received")) == 1)
        await shared.wait_for(lambda r: len(r.events("message_received")) == 1)
        await shared.wait_for(
            lambda r: (
                r.events("connection_update")[-1:] != []
                and r.events("connection_update")[-1]["data"]["status"] == "connected"
            )
        )
        assert {e["event"] for e in own.events()} == {"qr_updated", "message_received"}
        assert {e["event"] for e in shared.events()} == {
            "message_received",
            "connection_update",
        }
        assert own.events("message_received") == shared.events("message_received")
        for request in shared.requests:
            header = request.headers["x-wagate-signature"]
            assert expected_signature("global-secret", header, request.body)
        assert all("x-wagate-signature" not in r.headers for r in own.requests)

        # The admin sees both targets in the log; the instance token only its own.
        admin_view = await deliveries(client, name)
        assert {d["target"] for d in admin_view} == {"instance", "global"}
        token = {"Authorization": f"Bearer {linked['token']}"}
        response = await client.get(f"/v1/instances/{name}/webhook/deliveries", headers=token)
        assert {d["target"] for d in response.json()["deliveries"]} == {"instance"}
        global_row = next(d for d in admin_view if d["target"] == "global")
        hidden = await client.get(
            f"/v1/instances/{name}/webhook/deliveries/{global_row['id']}", headers=token
        )
        assert hidden.status_code == 404


async def test_a_webhook_change_applies_to_the_next_event_at_once(
    client: httpx.AsyncClient, receivers: Callable[[], Awaitable[Receiver]]
) -> None:
    """The outbox caches each instance's webhook: a PUT or DELETE on this node drops it."""
    first, second = await receivers(), await receivers()
    name = (await linked_instance(client))["name"]
    path = f"/v1/instances/{name}/webhook"

    def texts(rx: Receiver) -> list[str]:
        return [e["data"]["text"] for e in rx.events("message_received")]

    await hook_messages(client, name, first.url)
    await inbound(client, name, "one")
    await first.wait_for(lambda rx: bool(texts(rx)))
    await hook_messages(client, name, second.url)
    await inbound(client, name, "two")
    await second.wait_for(lambda rx: bool(texts(rx)))
    assert texts(first) == ["one"] and texts(second) == ["two"]

    # A filter that leaves message_received out, then no webhook: no row for either event.
    put = await client.put(path, json={"url": second.url, "events": ["message_ack"]})
    assert put.status_code == 200, put.text
    await inbound(client, name, "three")
    assert (await client.delete(path)).status_code == 204
    await inbound(client, name, "four")
    written = [d for d in await deliveries(client, name) if d["event"] == "message_received"]
    assert len(written) == 2, written
