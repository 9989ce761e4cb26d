"""Every route of the app, called with no token, a wrong token, another instance's token,
the instance's own token and the admin token, checked against API.md "Auth".

RULES must name every route the app serves: a new route without an access rule fails
`test_every_route_has_a_rule`, so none can be added silently."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIWebSocketRoute, iter_route_contexts
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import (
    ADMIN_TOKEN,
    linked_instance,
    live_server,
    make_settings,
    running_app,
    unique_name,
)
from wagate.app import create_app
from wagate.config import Settings
from wagate.messages.schemas import KINDS

PUBLIC = "public"  # no token needed
ADMIN = "admin"  # admin token only: 401 without a valid token, 403 for an instance token
INSTANCE = "instance"  # the instance's own token or admin; another instance's token: 404
ANY = "any"  # any valid token; an instance token sees only its own things
OWNED = "owned"  # any valid token, but the resource belongs to one instance: others get 404

RULES: dict[tuple[str, str], str] = {
    ("GET", "/"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/static/{name}"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    # The dashboard's page and assets are public; everything it shows comes from the API
    # with the token the user signs in with.
    ("GET", "/dashboard"): PUBLIC,
    ("GET", "/dashboard/"): PUBLIC,
    ("GET", "/dashboard/static/{name}"): PUBLIC,
    ("POST", "/v1/instances"): ADMIN,
    ("GET", "/v1/cluster"): ADMIN,
    ("GET", "/v1/sinks"): ADMIN,
    ("GET", "/v1/instances/{instance}/sinks/{sink}"): INSTANCE,
    ("PUT", "/v1/instances/{instance}/sinks/{sink}"): INSTANCE,
    ("DELETE", "/v1/instances/{instance}/sinks/{sink}"): INSTANCE,
    ("GET", "/v1/instances/{instance}/send-policy"): INSTANCE,
    ("PATCH", "/v1/instances/{instance}/send-policy"): INSTANCE,
    ("POST", "/v1/instances/{instance}/send-policy/resume"): INSTANCE,
    ("GET", "/v1/instances"): ANY,
    ("GET", "/v1/instances/{instance}"): INSTANCE,
    ("PATCH", "/v1/instances/{instance}"): INSTANCE,
    ("DELETE", "/v1/instances/{instance}"): ADMIN,
    ("POST", "/v1/instances/{instance}/token"): INSTANCE,
    ("POST", "/v1/instances/{instance}/connect"): INSTANCE,
    ("POST", "/v1/instances/{instance}/disconnect"): INSTANCE,
    ("POST", "/v1/instances/{instance}/logout"): INSTANCE,
    ("POST", "/v1/instances/{instance}/restart"): INSTANCE,
    ("GET", "/v1/instances/{instance}/qr"): INSTANCE,
    ("POST", "/v1/instances/{instance}/pair"): INSTANCE,
    ("GET", "/v1/instances/{instance}/events"): INSTANCE,
    # WebSocket routes ("WS"): a refusal is a close code, 4000 + the HTTP status (ws_status).
    ("WS", "/v1/events/ws"): ADMIN,
    ("WS", "/v1/instances/{instance}/events/ws"): INSTANCE,
    ("POST", "/v1/instances/{instance}/simulator/scan"): INSTANCE,
    ("POST", "/v1/instances/{instance}/simulator/inbound"): INSTANCE,
    ("POST", "/v1/instances/{instance}/simulator/faults"): INSTANCE,
    ("GET", "/v1/instances/{instance}/simulator/outbox"): INSTANCE,
    ("GET", "/v1/instances/{instance}/simulator/presence"): INSTANCE,
    ("POST", "/v1/instances/{instance}/send/batch"): INSTANCE,
    ("POST", "/v1/instances/{instance}/send/{kind}"): INSTANCE,
    **{("POST", f"/v1/instances/{{instance}}/send/{kind}"): INSTANCE for kind in KINDS},
    ("GET", "/v1/instances/{instance}/messages/{correlation_id}"): INSTANCE,
    ("GET", "/v1/instances/{instance}/messages"): INSTANCE,
    ("POST", "/v1/instances/{instance}/contacts/check"): INSTANCE,
    ("POST", "/v1/instances/{instance}/chats/{chat}/read"): INSTANCE,
    ("PATCH", "/v1/instances/{instance}/messages/{correlation_id}"): INSTANCE,
    ("DELETE", "/v1/instances/{instance}/messages/{correlation_id}"): INSTANCE,
    ("POST", "/v1/instances/{instance}/chats/{chat}/messages/{message_id}/forward"): INSTANCE,
    ("POST", "/v1/instances/{instance}/chats/{chat}/messages/{message_id}/react"): INSTANCE,
    ("POST", "/v1/instances/{instance}/chats/{chat}/messages/{message_id}/read"): INSTANCE,
    ("POST", "/v1/instances/{instance}/chats/{chat}/messages/{message_id}/pin"): INSTANCE,
    ("POST", "/v1/instances/{instance}/chats/{chat}/messages/{message_id}/vote"): INSTANCE,
    ("POST", "/v1/instances/{instance}/polls/{correlation_id}/vote"): INSTANCE,
    ("POST", "/v1/instances/{instance}/simulator/edit"): INSTANCE,
    ("POST", "/v1/instances/{instance}/simulator/history"): INSTANCE,
    ("POST", "/v1/instances/{instance}/simulator/revoke"): INSTANCE,
    ("POST", "/v1/instances/{instance}/simulator/vote"): INSTANCE,
    ("POST", "/v1/instances/{instance}/chats/{chat}/presence"): INSTANCE,
    ("GET", "/v1/instances/{instance}/media/{message_id}"): INSTANCE,
    ("GET", "/v1/instances/{instance}/contacts/{contact}"): INSTANCE,
    ("GET", "/v1/instances/{instance}/contacts/{contact}/picture"): INSTANCE,
    ("GET", "/v1/instances/{instance}/contacts/{contact}/lid"): INSTANCE,
    ("GET", "/v1/instances/{instance}/lids/{lid}"): INSTANCE,
    ("GET", "/v1/instances/{instance}/blocklist"): INSTANCE,
    ("POST", "/v1/instances/{instance}/blocklist"): INSTANCE,
    ("GET", "/v1/instances/{instance}/profile"): INSTANCE,
    ("PATCH", "/v1/instances/{instance}/profile"): INSTANCE,
    ("PUT", "/v1/instances/{instance}/profile/picture"): INSTANCE,
    ("DELETE", "/v1/instances/{instance}/profile/picture"): INSTANCE,
    ("GET", "/v1/instances/{instance}/privacy"): INSTANCE,
    ("PATCH", "/v1/instances/{instance}/privacy"): INSTANCE,
    ("POST", "/v1/instances/{instance}/presence"): INSTANCE,
    ("POST", "/v1/instances/{instance}/chats/{chat}/presence/subscribe"): INSTANCE,
    ("PATCH", "/v1/instances/{instance}/chats/{chat}"): INSTANCE,
    ("POST", "/v1/instances/{instance}/calls/{call_id}/reject"): INSTANCE,
    ("POST", "/v1/instances/{instance}/simulator/presence"): INSTANCE,
    ("POST", "/v1/instances/{instance}/simulator/calls"): INSTANCE,
    ("POST", "/v1/instances/{instance}/simulator/calls/{call_id}"): INSTANCE,
    ("PATCH", "/v1/instances/{instance}/simulator/contacts/{contact}"): INSTANCE,
    ("GET", "/v1/instances/{instance}/chats"): INSTANCE,
    ("GET", "/v1/instances/{instance}/chats/{chat}"): INSTANCE,
    ("GET", "/v1/instances/{instance}/chats/{chat}/messages"): INSTANCE,
    ("GET", "/v1/instances/{instance}/chats/{chat}/messages/{message_id}"): INSTANCE,
    ("GET", "/v1/instances/{instance}/messages/search"): INSTANCE,
    ("GET", "/v1/instances/{instance}/contacts"): INSTANCE,
    ("POST", "/v1/instances/{instance}/groups"): INSTANCE,
    ("GET", "/v1/instances/{instance}/groups"): INSTANCE,
    ("GET", "/v1/instances/{instance}/groups/{group}"): INSTANCE,
    ("PATCH", "/v1/instances/{instance}/groups/{group}"): INSTANCE,
    ("PUT", "/v1/instances/{instance}/groups/{group}/picture"): INSTANCE,
    ("DELETE", "/v1/instances/{instance}/groups/{group}/picture"): INSTANCE,
    ("POST", "/v1/instances/{instance}/groups/{group}/participants"): INSTANCE,
    ("GET", "/v1/instances/{instance}/groups/{group}/requests"): INSTANCE,
    ("POST", "/v1/instances/{instance}/groups/{group}/requests"): INSTANCE,
    ("GET", "/v1/instances/{instance}/groups/{group}/invite"): INSTANCE,
    ("POST", "/v1/instances/{instance}/groups/{group}/invite/revoke"): INSTANCE,
    ("GET", "/v1/instances/{instance}/groups/invites/{code}"): INSTANCE,
    ("POST", "/v1/instances/{instance}/groups/invites/{code}/join"): INSTANCE,
    ("POST", "/v1/instances/{instance}/groups/{group}/leave"): INSTANCE,
    ("POST", "/v1/instances/{instance}/simulator/groups"): INSTANCE,
    ("POST", "/v1/instances/{instance}/simulator/groups/{group}/participants"): INSTANCE,
    ("PATCH", "/v1/instances/{instance}/simulator/groups/{group}"): INSTANCE,
    ("POST", "/v1/instances/{instance}/simulator/groups/{group}/messages"): INSTANCE,
    ("POST", "/v1/instances/{instance}/simulator/groups/invites/{code}/join"): INSTANCE,
    ("GET", "/v1/dead-letters"): ANY,
    # An instance token retries only its own: it is scoped, not refused.
    ("POST", "/v1/dead-letters/retry"): ANY,
    ("POST", "/v1/dead-letters/{correlation_id}/retry"): OWNED,
    ("DELETE", "/v1/dead-letters/{correlation_id}"): OWNED,
    ("PUT", "/v1/instances/{instance}/webhook"): INSTANCE,
    ("GET", "/v1/instances/{instance}/webhook"): INSTANCE,
    ("DELETE", "/v1/instances/{instance}/webhook"): INSTANCE,
    ("GET", "/v1/instances/{instance}/webhook/deliveries"): INSTANCE,
    ("GET", "/v1/instances/{instance}/webhook/deliveries/{delivery_id}"): INSTANCE,
    ("POST", "/v1/instances/{instance}/webhook/deliveries/{delivery_id}/redeliver"): INSTANCE,
    # The MCP server: any valid token; its tools call the routes above with that token.
    ("POST", "/mcp"): ANY,
}


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    found = set()
    for route in iter_route_contexts(app.routes):
        for method in route.methods or ():
            if method != "HEAD" and route.path is not None:
                found.add((method, route.path))
        if isinstance(route.original_route, APIWebSocketRoute) and route.path is not None:
            found.add(("WS", route.path))
    return found


def test_every_route_has_a_rule(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}", tmp_path)
    served = app_routes(create_app(settings, run_migrations=False))
    assert len(served) > 30  # the enumeration itself works
    missing = served - set(RULES)
    assert not missing, f"routes without an access rule in RULES: {sorted(missing)}"
    stale = set(RULES) - served
    assert not stale, f"RULES names routes the app does not serve: {sorted(stale)}"


# Bodies valid enough that auth, not validation, decides; {} where nothing better is needed.
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/v1/instances"): {"name": "will-be-replaced", "engine": "simulator"},
    ("PATCH", "/v1/instances/{instance}"): {"settings": {"send_interval_ms": 0}},
    ("POST", "/v1/instances/{instance}/pair"): {"phone": "+4915112345678"},
    ("POST", "/v1/instances/{instance}/simulator/inbound"): {"from": "4915112345678", "text": "hi"},
    ("POST", "/v1/instances/{instance}/send/batch"): {
        "messages": [{"kind": "text", "to": "4915112345678", "text": "hi"}]
    },
    ("POST", "/v1/instances/{instance}/send/{kind}"): {"to": "4915112345678", "text": "hi"},
    ("POST", "/v1/instances/{instance}/contacts/check"): {"phones": ["4915112345678"]},
    ("POST", "/v1/instances/{instance}/chats/{chat}/read"): {"message_ids": ["ABC"]},
    ("POST", "/v1/instances/{instance}/chats/{chat}/presence"): {"state": "composing"},
    ("PATCH", "/v1/instances/{instance}/messages/{correlation_id}"): {"text": "fixed"},
    ("POST", "/v1/instances/{instance}/chats/{chat}/messages/{message_id}/forward"): {
        "to": "4915112345678"
    },
    ("POST", "/v1/instances/{instance}/chats/{chat}/messages/{message_id}/react"): {"emoji": "x"},
    ("POST", "/v1/instances/{instance}/chats/{chat}/messages/{message_id}/pin"): {"pin": True},
    ("POST", "/v1/instances/{instance}/chats/{chat}/messages/{message_id}/vote"): {"options": []},
    ("POST", "/v1/instances/{instance}/polls/{correlation_id}/vote"): {"options": []},
    ("POST", "/v1/instances/{instance}/simulator/edit"): {
        "from": "4915112345678",
        "message_id": "ABC",
        "text": "x",
    },
    ("POST", "/v1/instances/{instance}/simulator/revoke"): {
        "from": "4915112345678",
        "message_id": "ABC",
    },
    ("POST", "/v1/instances/{instance}/simulator/vote"): {
        "from": "4915112345678",
        "message_id": "ABC",
        "options": [],
    },
    ("POST", "/v1/instances/{instance}/blocklist"): {
        "action": "unblock",
        "contact": "4915112345678",
    },
    ("PATCH", "/v1/instances/{instance}/profile"): {"about": "hi"},
    ("PUT", "/v1/instances/{instance}/profile/picture"): {
        "media": {
            "base64": "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGNgYGAAAAAEAAH2"
            "FzhVAAAAAElFTkSuQmCC"
        }
    },
    ("PATCH", "/v1/instances/{instance}/privacy"): {"calls": "all"},
    ("POST", "/v1/instances/{instance}/presence"): {"state": "available"},
    ("PATCH", "/v1/instances/{instance}/chats/{chat}"): {"archived": False},
    ("POST", "/v1/instances/{instance}/simulator/presence"): {
        "from": "4915112345678",
        "state": "available",
    },
    ("POST", "/v1/instances/{instance}/simulator/calls"): {"from": "4915112345678"},
    ("POST", "/v1/instances/{instance}/simulator/calls/{call_id}"): {"status": "missed"},
    ("PATCH", "/v1/instances/{instance}/simulator/contacts/{contact}"): {"about": "hi"},
    ("PUT", "/v1/instances/{instance}/webhook"): {"url": "http://127.0.0.1:9/hook"},
    ("PUT", "/v1/instances/{instance}/sinks/{sink}"): {"events": ["message_received"]},
    ("POST", "/mcp"): {"jsonrpc": "2.0", "id": 1, "method": "ping"},
    ("PATCH", "/v1/instances/{instance}/send-policy"): {"per_day": 100},
}


@dataclass
class World:
    http: httpx.AsyncClient
    mine: dict[str, Any]  # the instance whose routes are called, linked, with its token
    other: dict[str, Any]  # another instance, with its token
    params: dict[str, str]


def auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


async def build_world(http: httpx.AsyncClient, receiver_port: int) -> World:
    mine = await linked_instance(http)
    other = await linked_instance(http)
    name = mine["name"]
    # A sent message, a received media message, a webhook delivery and a dead letter, so
    # that routes on those reach the access check with ids that exist.
    sent = await http.post(
        f"/v1/instances/{name}/send/text",
        json=BODIES[("POST", "/v1/instances/{instance}/send/{kind}")],
    )
    assert sent.status_code == 200, sent.text
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 64).decode()
    inbound = await http.post(
        f"/v1/instances/{name}/simulator/inbound",
        json={
            "from": "4915112345678",
            "kind": "image",
            "media": {"base64": png, "mimetype": "image/png"},
        },
    )
    assert inbound.status_code == 200, inbound.text
    hook = await http.put(
        f"/v1/instances/{name}/webhook", json={"url": f"http://127.0.0.1:{receiver_port}/hook"}
    )
    assert hook.status_code == 200, hook.text
    await http.post(
        f"/v1/instances/{name}/simulator/inbound", json={"from": "4915112345678", "text": "x"}
    )
    delivery_id = ""
    for _ in range(200):
        listed = (await http.get(f"/v1/instances/{name}/webhook/deliveries")).json()["deliveries"]
        if listed:
            delivery_id = listed[0]["id"]
            break
        await asyncio.sleep(0.02)
    assert delivery_id, "no webhook delivery was recorded"
    faults = await http.post(
        f"/v1/instances/{name}/simulator/faults", json={"fail_next": 1, "fail_kind": "permanent"}
    )
    assert faults.status_code == 200, faults.text
    failed = await http.post(
        f"/v1/instances/{name}/send/text", json={"to": "4915112345678", "text": "dl"}
    )
    assert failed.status_code >= 400, failed.text
    dead = failed.json()["error"]["details"]["correlation_id"]
    return World(
        http=http,
        mine=mine,
        other=other,
        params={
            "instance": name,
            "kind": "text",
            "correlation_id": sent.json()["correlation_id"],
            "chat": "4915112345678",
            "contact": "4915112345678",
            "lid": "123456789012345@lid",
            "call_id": "ABC123",
            "message_id": inbound.json()["message_id"],
            "delivery_id": delivery_id,
            "dead_letter": dead,
            "name": "app.js",
            "sink": "amqp",
            "group": "120363000000000001@g.us",
            "code": "NoSuchInviteCode",
        },
    )


async def call(world: World, method: str, path: str, token: str | None) -> httpx.Response:
    if method == "WS":
        return await ws_call(world, path, token)
    params = dict(world.params)
    if path.startswith("/v1/dead-letters/"):
        params["correlation_id"] = params["dead_letter"]
    url = path.format(**params)
    body = BODIES.get((method, path), {})
    if (method, path) == ("POST", "/v1/instances"):
        body = {**body, "name": unique_name("mx")}
    json_body = body if method in {"POST", "PUT", "PATCH", "DELETE"} else None
    request = world.http.build_request(method, url, json=json_body, headers=auth(token))
    # Streamed, so /events answers its status without the test reading the endless stream.
    response = await world.http.send(request, stream=True)
    if response.status_code == 200 and path.endswith("/events"):
        await response.aclose()
    else:
        await response.aread()
    return response


async def ws_call(world: World, path: str, token: str | None) -> httpx.Response:
    """A WebSocket route as an HTTP answer: 200 once the stream greets, else the status its
    close code stands for, with the error body it sent before closing."""
    url = str(world.http.base_url).replace("http://", "ws://").rstrip("/")
    url += path.format(**world.params)
    async with connect(url, additional_headers=auth(token)) as ws:
        if token is None:
            await ws.send(json.dumps({"token": ""}))
        try:
            first = json.loads(await asyncio.wait_for(ws.recv(), 10))
        except ConnectionClosed as closed:
            raise AssertionError(f"{path}: closed without a message ({closed})") from None
        if first.get("type") == "connected":
            return httpx.Response(200, json=first)
        with contextlib.suppress(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
        assert ws.close_code is not None and ws.close_code >= 4000, ws.close_code
        return httpx.Response(ws.close_code - 4000, json={"error": first["error"]})


def allowed(response: httpx.Response) -> bool:
    """Past the access check: not 401/403, and not the 404 that hides an instance."""
    if response.status_code in (401, 403):
        return False
    if response.status_code == 404:
        message = response.json()["error"]["message"]
        return "instance" not in message
    return True


def expectations(rule: str) -> dict[str, Any]:
    """Who gets what, as API.md says: a status code, or `allowed`."""
    if rule == PUBLIC:
        return dict.fromkeys(("none", "wrong", "other", "own", "admin"), "allowed")
    base = {"none": 401, "wrong": 401, "admin": "allowed"}
    if rule == ADMIN:
        return {**base, "other": 403, "own": 403}
    if rule == INSTANCE:
        return {**base, "other": 404, "own": "allowed"}
    if rule == ANY:
        return {**base, "other": "allowed", "own": "allowed"}
    if rule == OWNED:
        return {**base, "other": 404, "own": "allowed"}
    raise AssertionError(rule)


@pytest.fixture
async def matrix_app(tmp_path: Path, sqlite_url: str) -> AsyncIterator[tuple[FastAPI, str]]:
    settings: Settings = make_settings(
        sqlite_url,
        tmp_path / "data",
        rate_limit_per_s=0,
        auth_failure_rate_per_s=0,  # the matrix fails on purpose, many times over
        webhook_max_attempts=1,
        webhook_timeout_s=0.5,
        sync_timeout_s=5,
    )
    async with running_app(settings) as app, live_server(app) as url:
        yield app, url


ROUTES = sorted(RULES)


async def test_access_matrix(matrix_app: tuple[FastAPI, str]) -> None:
    _app, url = matrix_app
    failures = []
    async with httpx.AsyncClient(base_url=url, headers=auth(ADMIN_TOKEN), timeout=30) as http:
        for method, path in ROUTES:
            # A fresh pair of instances per route: a route may delete, log out or rotate.
            world = await build_world(http, receiver_port=9)
            http.headers.pop("Authorization", None)
            tokens = {
                "none": None,
                "wrong": "wgi_" + uuid.uuid4().hex + uuid.uuid4().hex,
                "other": world.other["token"],
                "own": world.mine["token"],
                "admin": ADMIN_TOKEN,
            }
            expected_by_who = expectations(RULES[(method, path)])
            # The admin goes last: its call may delete the instance or rotate its token.
            for who in ("none", "wrong", "other", "own", "admin"):
                expected = expected_by_who[who]
                response = await call(world, method, path, tokens[who])
                ok = (
                    allowed(response) if expected == "allowed" else response.status_code == expected
                )
                if ok and response.status_code >= 400:
                    body = response.json()
                    ok = set(body["error"]) == {"code", "message", "details"}
                if not ok:
                    failures.append(
                        f"{method} {path} as {who}: expected {expected}, got "
                        f"{response.status_code} {response.text[:160]}"
                    )
            http.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
    assert not failures, "\n".join(failures)
