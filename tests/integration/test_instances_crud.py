"""Instance CRUD, token rotation and the auth rules, over HTTP on both databases."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from tests.conftest import (
    ADMIN_TOKEN,
    create_instance,
    linked_instance,
    unique_name,
    wait_status,
)
from tests.integration.instance_helpers import assert_error, bad_fields, state_of, token_headers
from wagate.models import Instance, SimulatorDevice

INSTANCE_FIELDS = {
    "name",
    "engine",
    "status",
    "jid",
    "phone",
    "last_error",
    "connected_at",
    "last_event_at",
    "node",
    "settings",
    "webhook",
    "created_at",
}
DEFAULT_SETTINGS = {
    "send_interval_ms": 0,
    "send_jitter_ms": 0,
    "max_attempts": 3,
    "reject_calls": False,
    "always_online": False,
    "proxy": None,
    "history_retention_days": 90,
    "history_sync": "recent",
    "history_sync_days": 30,
}


async def test_create_returns_the_object_and_a_token(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    name = unique_name()
    response = await client.post("/v1/instances", json={"name": name, "engine": "simulator"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == INSTANCE_FIELDS | {"token"}
    assert body["name"] == name and body["engine"] == "simulator"
    assert body["status"] == "disconnected"
    assert body["settings"] == DEFAULT_SETTINGS
    assert body["webhook"] is None and body["jid"] is None
    assert body["token"].startswith("wgi_")
    assert body["created_at"].endswith(("Z", "+00:00"))
    # only the hash is stored
    async with state_of(app).db.session() as session:
        stored = await session.scalar(select(Instance.token_hash).where(Instance.name == name))
    assert stored and body["token"] not in stored
    # the token is shown once: never in a later answer
    again = await client.get(f"/v1/instances/{name}")
    assert "token" not in again.json()


async def test_create_with_settings_webhook_and_default_engine(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/instances",
        json={
            "name": unique_name(),
            "settings": {"send_interval_ms": 250, "reject_calls": True},
            "webhook": {"url": "https://example.com/hook", "secret": "s3cret"},
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["engine"] == "simulator"  # WAGATE_ENGINE of the test settings
    assert body["settings"] == {**DEFAULT_SETTINGS, "send_interval_ms": 250, "reject_calls": True}
    assert body["webhook"]["url"] == "https://example.com/hook"
    assert "s3cret" not in response.text


async def test_name_taken_is_409(client: httpx.AsyncClient) -> None:
    created = await create_instance(client)
    response = await client.post("/v1/instances", json={"name": created["name"]})
    assert_error(response, 409, "conflict")
    # racing creates of one name: exactly one wins
    name = unique_name()
    responses = await asyncio.gather(
        *(client.post("/v1/instances", json={"name": name}) for _ in range(6))
    )
    assert sorted(r.status_code for r in responses) == [201, 409, 409, 409, 409, 409]
    for response in responses:
        if response.status_code == 409:
            assert_error(response, 409, "conflict")


BAD_BODIES: list[tuple[object, set[str]]] = [
    ({"name": "Upper"}, {"name"}),
    ({"name": "-dash-first"}, {"name"}),
    ({"name": "a" * 65}, {"name"}),
    ({"name": "has space"}, {"name"}),
    ({"name": ""}, {"name"}),
    ({}, {"name"}),
    ({"name": 5}, {"name"}),
    ({"name": "ok", "engine": "baileys"}, {"engine"}),
    ({"name": "ok", "colour": "red"}, {"colour"}),
    ({"name": "ok", "settings": {"max_attempts": 0}}, {"settings.max_attempts"}),
    ({"name": "ok", "settings": {"send_interval_ms": -1}}, {"settings.send_interval_ms"}),
    ({"name": "ok", "settings": {"nope": 1}}, {"settings.nope"}),
    ({"name": "ok", "webhook": {"url": "not a url"}}, {"webhook.url"}),
    ({"name": "ok", "webhook": {"url": "https://x.io", "events": ["x"]}}, {"webhook.events.0"}),
    ({"name": "BAD", "engine": "x"}, {"name", "engine"}),
]
MALFORMED = [b"", b"{", b"[]", b"null", b'"name"', b"\xff\xfe", b'{"name": "a\x00"}']


async def test_bad_create_body_is_422_with_fields(client: httpx.AsyncClient) -> None:
    # one test for all the cases: each case on a fresh PostgreSQL database would cost seconds
    for body, fields in BAD_BODIES:
        response = await client.post("/v1/instances", json=body)
        assert bad_fields(response) == fields, body
    for content in MALFORMED:
        response = await client.post(
            "/v1/instances", content=content, headers={"Content-Type": "application/json"}
        )
        assert_error(response, 422, "validation_error")
    assert (await client.get("/v1/instances")).json() == {"instances": [], "next_cursor": None}


async def test_list_admin_sees_all_instance_sees_its_own(client: httpx.AsyncClient) -> None:
    a = await create_instance(client)
    b = await create_instance(client)
    listed = await client.get("/v1/instances")
    assert listed.status_code == 200
    names = [item["name"] for item in listed.json()["instances"]]
    assert a["name"] in names and b["name"] in names
    mine = await client.get("/v1/instances", headers=token_headers(a["token"]))
    assert mine.status_code == 200
    assert [item["name"] for item in mine.json()["instances"]] == [a["name"]]
    assert set(mine.json()["instances"][0]) == INSTANCE_FIELDS


async def test_get_with_admin_and_own_token(client: httpx.AsyncClient) -> None:
    created = await create_instance(client)
    name = created["name"]
    for headers in (
        {},
        token_headers(created["token"]),
        token_headers(created["token"], api_key=True),
    ):
        response = await client.get(f"/v1/instances/{name}", headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["name"] == name
    assert_error(await client.get("/v1/instances/nope-404"), 404, "not_found")


async def test_patch_settings(client: httpx.AsyncClient) -> None:
    created = await create_instance(client, settings={"max_attempts": 5})
    name = created["name"]
    response = await client.patch(
        f"/v1/instances/{name}",
        json={"settings": {"send_jitter_ms": 40}},
        headers=token_headers(created["token"]),
    )
    assert response.status_code == 200, response.text
    assert response.json()["settings"] == {
        **DEFAULT_SETTINGS,
        "max_attempts": 5,
        "send_jitter_ms": 40,
    }
    again = (await client.get(f"/v1/instances/{name}")).json()
    assert again["settings"]["send_jitter_ms"] == 40 and again["settings"]["max_attempts"] == 5
    for body, fields in [
        ({"settings": {"max_attempts": 51}}, {"settings.max_attempts"}),
        ({"settings": {"reject_calls": "perhaps"}}, {"settings.reject_calls"}),
        ({"settings": {"unknown": 1}}, {"settings.unknown"}),
        ({"name": "renamed", "settings": {}}, {"name"}),
        ({}, {"settings"}),
    ]:
        assert bad_fields(await client.patch(f"/v1/instances/{name}", json=body)) == fields
    unchanged = (await client.get(f"/v1/instances/{name}")).json()
    assert unchanged["settings"] == again["settings"]
    assert_error(
        await client.patch("/v1/instances/nope-404", json={"settings": {}}), 404, "not_found"
    )


async def test_delete_stops_the_client_and_forgets_the_device(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    linked = await linked_instance(client)
    name = linked["name"]
    state = state_of(app)
    assert state.manager.live_client(name) is not None
    async with state.db.session() as session:
        instance_id = await session.scalar(select(Instance.id).where(Instance.name == name))
    response = await client.delete(f"/v1/instances/{name}")
    assert response.status_code == 204 and response.content == b""
    assert state.manager.live_client(name) is None
    assert state.manager.status_of(name) is None
    async with state.db.session() as session:
        devices = await session.scalar(
            select(func.count()).where(SimulatorDevice.instance_id == instance_id)
        )
    assert devices == 0
    assert_error(await client.get(f"/v1/instances/{name}"), 404, "not_found")
    assert_error(await client.delete(f"/v1/instances/{name}"), 404, "not_found")
    # the name is free again, and the new instance is not linked
    again = await create_instance(client, name=name)
    assert again["status"] == "disconnected" and again["jid"] is None
    await client.post(f"/v1/instances/{name}/connect")
    await wait_status(client, name, "pairing")


async def test_token_rotation(client: httpx.AsyncClient) -> None:
    created = await create_instance(client)
    name = created["name"]
    old = created["token"]
    # the old token rotates it
    response = await client.post(f"/v1/instances/{name}/token", headers=token_headers(old))
    assert response.status_code == 200, response.text
    new = response.json()["token"]
    assert new != old and new.startswith("wgi_")
    assert_error(
        await client.get(f"/v1/instances/{name}", headers=token_headers(old)), 401, "unauthorized"
    )
    assert (
        await client.get(f"/v1/instances/{name}", headers=token_headers(new))
    ).status_code == 200
    assert_error(
        await client.post(f"/v1/instances/{name}/token", headers=token_headers(old)),
        401,
        "unauthorized",
    )
    # the admin rotates it too
    response = await client.post(f"/v1/instances/{name}/token")
    assert response.status_code == 200
    newest = response.json()["token"]
    assert (
        await client.get(f"/v1/instances/{name}", headers=token_headers(new))
    ).status_code == 401
    assert (
        await client.get(f"/v1/instances/{name}", headers=token_headers(newest, api_key=True))
    ).status_code == 200
    # another instance's token cannot
    other = await create_instance(client)
    assert_error(
        await client.post(f"/v1/instances/{name}/token", headers=token_headers(other["token"])),
        404,
        "not_found",
    )


INSTANCE_ROUTES = [
    ("GET", ""),
    ("PATCH", ""),
    ("POST", "/connect"),
    ("POST", "/disconnect"),
    ("POST", "/logout"),
    ("POST", "/restart"),
    ("GET", "/qr"),
    ("POST", "/pair"),
    ("POST", "/token"),
    ("GET", "/events"),
    ("POST", "/simulator/scan"),
    ("POST", "/simulator/inbound"),
    ("POST", "/simulator/faults"),
    ("GET", "/simulator/outbox"),
]


# 42 failed authentications in a row on purpose: over the per-address budget for those.
@pytest.mark.parametrize("settings_overrides", [{"auth_failure_rate_per_s": 0}])
async def test_auth_rules(client: httpx.AsyncClient) -> None:
    mine = await create_instance(client)
    theirs = await create_instance(client)
    own = token_headers(mine["token"])
    # 401: no token, wrong token, wrong scheme, empty (a client without the admin header)
    async with httpx.AsyncClient(
        transport=client._transport, base_url=str(client.base_url)
    ) as anon:
        for headers in (
            {},
            {"Authorization": ""},
            {"Authorization": "Bearer wgi_wrong"},
            {"X-Api-Key": "wga_wrong"},
            {"Authorization": f"Basic {ADMIN_TOKEN}"},
            {"Authorization": f"Bearer {ADMIN_TOKEN}x"},
            {"X-Api-Key": ADMIN_TOKEN[:-1]},
        ):
            for method, path in [
                ("GET", "/v1/instances"),
                ("POST", "/v1/instances"),
                ("GET", f"/v1/instances/{mine['name']}"),
                ("POST", f"/v1/instances/{mine['name']}/connect"),
                ("GET", f"/v1/instances/{mine['name']}/simulator/outbox"),
                ("GET", "/v1/instances/does-not-exist"),
            ]:
                response = await anon.request(method, path, headers=headers, json={"name": "zz"})
                assert_error(response, 401, "unauthorized")
        # the admin token works in X-Api-Key too
        response = await anon.get("/v1/instances", headers={"X-Api-Key": ADMIN_TOKEN})
        assert response.status_code == 200
    # 403: admin-only routes with an instance token
    assert_error(
        await client.post("/v1/instances", json={"name": unique_name()}, headers=own),
        403,
        "forbidden",
    )
    assert_error(
        await client.delete(f"/v1/instances/{mine['name']}", headers=own), 403, "forbidden"
    )
    # 404: another instance's routes, the same answer as an instance that does not exist
    for method, path in INSTANCE_ROUTES:
        for target in (theirs["name"], "does-not-exist"):
            response = await client.request(
                method, f"/v1/instances/{target}{path}", headers=own, json={}
            )
            error = assert_error(response, 404, "not_found")
            assert theirs["name"] not in error["message"] or target == theirs["name"]
    # nothing happened to the other instance
    assert (await client.get(f"/v1/instances/{theirs['name']}")).json()["status"] == "disconnected"


VALID_BODIES: dict[str, dict[str, object]] = {
    "": {"settings": {}},
    "/pair": {"phone": "+5511988887777"},
    "/simulator/inbound": {"from": "+5511988887777", "text": "hi"},
}


async def test_impossible_names_in_paths_are_404(client: httpx.AsyncClient) -> None:
    # a NUL byte is refused by PostgreSQL itself: it must still be a plain 404
    for name in ("a%00b", "x" * 300, "%C3%A9t%C3%A9", "UPPER", "..", "a%20b"):
        for method, path in INSTANCE_ROUTES:
            body = VALID_BODIES.get(path, {})
            response = await client.request(method, f"/v1/instances/{name}{path}", json=body)
            assert_error(response, 404, "not_found")
        assert_error(await client.delete(f"/v1/instances/{name}"), 404, "not_found")


async def test_unknown_route_and_method_use_the_error_body(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/v1/nothing-here"), 404, "not_found")
    assert_error(await client.put("/v1/instances"), 405, "method_not_allowed")


async def test_openapi_docs_and_readyz(client: httpx.AsyncClient) -> None:
    openapi = await client.get("/openapi.json")
    assert openapi.status_code == 200
    paths = openapi.json()["paths"]
    for path in (
        "/v1/instances",
        "/v1/instances/{instance}",
        "/v1/instances/{instance}/connect",
        "/v1/instances/{instance}/qr",
        "/v1/instances/{instance}/pair",
        "/v1/instances/{instance}/disconnect",
        "/v1/instances/{instance}/logout",
        "/v1/instances/{instance}/restart",
        "/v1/instances/{instance}/token",
        "/v1/instances/{instance}/events",
        "/v1/instances/{instance}/simulator/scan",
        "/v1/instances/{instance}/simulator/outbox",
        "/healthz",
        "/readyz",
    ):
        assert path in paths, path
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"database": "ok", "queue": "ok", "engines": "ok"}
