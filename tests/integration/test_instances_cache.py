"""The request path caches token -> instance and instance lookups (wagate.instances.cache):
a rotated token, a deleted instance or changed settings must take effect on this node at the
very next request, on both databases."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from tests.conftest import create_instance, linked_instance
from tests.integration.instance_helpers import state_of, token_headers
from wagate.auth.tokens import hash_token
from wagate.instances.cache import CachedInstance
from wagate.models import Instance, Message

TEXT = {"to": "+5511999912345", "text": "cached"}


async def test_a_rotated_token_stops_working_at_once(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    created = await create_instance(client)
    name, old = created["name"], created["token"]
    # warm the cache with the old token
    for _ in range(3):
        assert (
            await client.get(f"/v1/instances/{name}", headers=token_headers(old))
        ).status_code == 200
    # the old token is cached, so what follows checks the invalidation, not a miss
    assert state_of(app).instances.token(hash_token(old)) == name
    response = await client.post(f"/v1/instances/{name}/token")
    assert response.status_code == 200, response.text
    new = response.json()["token"]
    stale = await client.get(f"/v1/instances/{name}", headers=token_headers(old))
    assert stale.status_code == 401, stale.text
    assert (
        await client.get(f"/v1/instances/{name}", headers=token_headers(new))
    ).status_code == 200


async def test_a_deleted_instance_stops_accepting_sends_at_once(client: httpx.AsyncClient) -> None:
    created = await linked_instance(client)
    name, token = created["name"], created["token"]
    headers = token_headers(token)
    for _ in range(3):  # cached: token and instance
        response = await client.post(
            f"/v1/instances/{name}/send/text?async=true", json=TEXT, headers=headers
        )
        assert response.status_code == 202, response.text
    assert (await client.delete(f"/v1/instances/{name}")).status_code == 204
    response = await client.post(
        f"/v1/instances/{name}/send/text?async=true", json=TEXT, headers=headers
    )
    assert response.status_code == 401, response.text  # the token went with the instance
    response = await client.post(f"/v1/instances/{name}/send/text?async=true", json=TEXT)
    assert response.status_code == 404, response.text  # and the admin finds no instance
    # a new instance of the same name is a new instance at once (new id, new token)
    again = await create_instance(client, name=name)
    response = await client.post(
        f"/v1/instances/{name}/send/text?async=true",
        json=TEXT,
        headers=token_headers(again["token"]),
    )
    assert response.status_code == 202, response.text
    record = await client.get(response.headers["Location"])
    assert record.status_code == 200 and record.json()["status"] in ("queued", "sending")


async def test_changed_settings_reach_the_next_send(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    created = await create_instance(client)
    name = created["name"]
    first = await client.post(f"/v1/instances/{name}/send/text?async=true", json=TEXT)
    assert first.status_code == 202, first.text
    response = await client.patch(f"/v1/instances/{name}", json={"settings": {"max_attempts": 9}})
    assert response.status_code == 200, response.text
    second = await client.post(f"/v1/instances/{name}/send/text?async=true", json=TEXT)
    assert second.status_code == 202, second.text
    cached = state_of(app).instances.instance(name)
    assert cached is not None and cached.max_attempts == 9
    async with state_of(app).db.session() as session:
        rows = dict(
            (
                await session.execute(
                    select(Message.correlation_id, Message.max_attempts).where(
                        Message.correlation_id.in_(
                            [first.json()["correlation_id"], second.json()["correlation_id"]]
                        )
                    )
                )
            ).all()
        )
    assert rows == {first.json()["correlation_id"]: 3, second.json()["correlation_id"]: 9}


async def test_a_stale_entry_of_another_nodes_delete(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """Another node deleted the instance (this node's entry is stale until its TTL): a send is
    404 if the instance is gone, and goes to the new instance if one was created again under
    the same name."""
    cache = state_of(app).instances

    async def deleted_with_a_stale_entry(name: str) -> CachedInstance:
        """Send once (the entry is cached), then delete the instance; the entry it had."""
        sent = await client.post(f"/v1/instances/{name}/send/text?async=true", json=TEXT)
        assert sent.status_code == 202, sent.text
        stale = cache.instance(name)
        assert stale is not None
        assert (await client.delete(f"/v1/instances/{name}")).status_code == 204
        return stale

    gone = (await create_instance(client))["name"]
    stale = await deleted_with_a_stale_entry(gone)
    cache.put_instance(stale, cache.generation)  # as if another node had deleted it
    response = await client.post(f"/v1/instances/{gone}/send/text?async=true", json=TEXT)
    assert response.status_code == 404, response.text

    name = (await create_instance(client))["name"]
    stale = await deleted_with_a_stale_entry(name)
    await create_instance(client, name=name)
    cache.put_instance(stale, cache.generation)
    response = await client.post(f"/v1/instances/{name}/send/text?async=true", json=TEXT)
    assert response.status_code == 202, response.text
    record = await client.get(response.headers["Location"])
    assert record.status_code == 200, record.text
    async with state_of(app).db.session() as session:
        owner = (
            await session.execute(
                select(Message.instance_id).where(
                    Message.correlation_id == response.json()["correlation_id"]
                )
            )
        ).scalar_one()
        current = (
            await session.execute(select(Instance.id).where(Instance.name == name))
        ).scalar_one()
    assert owner == current  # recorded for the instance created again
