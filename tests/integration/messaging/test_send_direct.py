"""The send routes reached without FastAPI's router (wagate.messages.direct) answer exactly as
the routed endpoints do.

Every request below is made twice on the same app: as is (the direct path takes it) and with
an extra query parameter, which the direct path leaves to the router (FastAPI ignores an
unknown query parameter). The two answers must be the same.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette.routing import Match

from tests.conftest import create_instance, linked_instance
from tests.integration.messaging.conftest import png_bytes
from wagate.messages.direct import DirectSendMiddleware, _async_flag, _idempotency_key
from wagate.messages.schemas import KINDS

TO = "5511987654321"
ROUTED = "via=router"  # unknown to the API: the direct path hands the request to the router


PER_CALL = {"correlation_id", "message_id", "timestamp"}


def _shape(response: httpx.Response) -> tuple[int, Any, str | None]:
    """Status, body and Location, with what differs per call (the ids and the time of a new
    message) masked."""
    body = response.json() if response.content else None
    if isinstance(body, dict):
        body = {key: "<per call>" if key in PER_CALL else value for key, value in body.items()}
    text = re.sub(r"[0-9a-f]{32}", "<id>", repr(body))
    location = response.headers.get("location")
    if location is not None:
        location = re.sub(r"[0-9a-f]{32}", "<id>", location)
    return response.status_code, text, location


async def both(
    client: httpx.AsyncClient, path: str, query: str = "", **kwargs: Any
) -> tuple[httpx.Response, httpx.Response]:
    direct = await client.post(f"{path}?{query}" if query else path, **kwargs)
    routed = await client.post(
        f"{path}?{query}&{ROUTED}" if query else f"{path}?{ROUTED}", **kwargs
    )
    assert _shape(direct) == _shape(routed), (path, query, direct.text, routed.text)
    return direct, routed


async def test_direct_and_routed_sends_answer_alike(client: httpx.AsyncClient) -> None:
    name = (await linked_instance(client))["name"]
    send = f"/v1/instances/{name}/send"

    direct, _ = await both(client, f"{send}/text", "async=true", json={"to": TO, "text": "hi"})
    assert direct.status_code == 202
    direct, _ = await both(client, f"{send}/text", "async=1", json={"to": TO, "text": "hi"})
    assert direct.status_code == 202
    direct, _ = await both(client, f"{send}/text", json={"to": TO, "text": "hi"})
    assert direct.status_code == 200
    direct, _ = await both(client, f"{send}/text", "async=false", json={"to": TO, "text": "hi"})
    assert direct.status_code == 200
    direct, _ = await both(
        client,
        f"{send}/image",
        "async=true",
        files={"file": ("p.png", png_bytes(), "image/png")},
        data={"to": TO, "caption": "multipart"},
    )
    assert direct.status_code == 202

    # Bad bodies, bad JSON, an unknown kind, a body of the wrong type.
    for kind, body in (
        ("text", {"to": TO}),
        ("text", {"to": "12", "text": "x"}),
        ("location", {"to": TO, "latitude": 91, "longitude": 0}),
        ("fax", {"to": TO, "text": "x"}),
    ):
        direct, _ = await both(client, f"{send}/{kind}", "async=true", json=body)
        assert direct.status_code == 422, direct.text
    direct, _ = await both(
        client, f"{send}/text", content=b"{no", headers={"Content-Type": "application/json"}
    )
    assert direct.status_code == 422
    direct, _ = await both(
        client, f"{send}/text", content=b"x", headers={"Content-Type": "text/plain"}
    )
    assert direct.status_code == 422

    # Who may call: no token, a wrong token, another instance's token, no such instance.
    other = await create_instance(client)
    for headers, status in (
        ({"Authorization": ""}, 401),
        ({"Authorization": "Bearer wgi_nope"}, 401),
        ({"Authorization": f"Bearer {other['token']}"}, 404),
    ):
        direct, _ = await both(
            client, f"{send}/text", "async=true", json={"to": TO, "text": "x"}, headers=headers
        )
        assert direct.status_code == status, direct.text
    direct, _ = await both(
        client, "/v1/instances/no-such/send/text", "async=true", json={"to": TO, "text": "x"}
    )
    assert direct.status_code == 404

    # A sync send on an instance that is not connected.
    direct, _ = await both(
        client, f"/v1/instances/{other['name']}/send/text", json={"to": TO, "text": "x"}
    )
    assert direct.status_code == 409


async def test_idempotency_key_is_shared_by_both_paths(client: httpx.AsyncClient) -> None:
    name = (await linked_instance(client))["name"]
    path = f"/v1/instances/{name}/send/text"
    headers = {"Idempotency-Key": "order-1"}
    first = await client.post(f"{path}?async=true", json={"to": TO, "text": "x"}, headers=headers)
    again = await client.post(
        f"{path}?async=true&{ROUTED}", json={"to": TO, "text": "x"}, headers=headers
    )
    assert first.status_code == again.status_code == 202
    assert first.json()["correlation_id"] == again.json()["correlation_id"]
    changed = await client.post(f"{path}?async=true", json={"to": TO, "text": "y"}, headers=headers)
    assert changed.status_code == 409, changed.text


async def test_what_fastapi_must_judge_goes_to_the_router(client: httpx.AsyncClient) -> None:
    name = (await create_instance(client))["name"]
    path = f"/v1/instances/{name}/send/text"
    body = {"to": TO, "text": "x"}
    response = await client.post(f"{path}?async=maybe", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["details"]["fields"][0]["field"] == "async"
    response = await client.post(
        f"{path}?async=true", json=body, headers={"Idempotency-Key": "k" * 256}
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"]["fields"][0]["field"] == "Idempotency-Key"


async def test_direct_sends_are_counted_under_their_route(client: httpx.AsyncClient) -> None:
    series = re.compile(
        r'wagate_http_requests_total\{method="POST",route="/v1/instances/\{instance\}/send/'
        r'location",status="202"\} ([0-9.]+)'
    )

    async def count() -> float:
        found = series.search((await client.get("/metrics")).text)
        return float(found.group(1)) if found else 0.0

    name = (await create_instance(client))["name"]
    before = await count()  # the registry is the process's: other tests count there too
    response = await client.post(
        f"/v1/instances/{name}/send/location?async=true",
        json={"to": TO, "latitude": 1.5, "longitude": 2.5},
    )
    assert response.status_code == 202
    assert await count() == before + 1


async def test_the_router_sends_each_kind_to_the_route_the_direct_path_runs(app: FastAPI) -> None:
    """Guards against a route registered later that would shadow a send route: the direct path
    must take only what the router would give to the same endpoint."""
    direct = DirectSendMiddleware(app)
    for kind in KINDS:
        scope = {
            "type": "http",
            "method": "POST",
            "path": f"/v1/instances/shop/send/{kind}",
            "root_path": "",
            "headers": [],
            "query_string": b"",
        }
        matched = [
            route
            for route in iter_route_contexts(app.router.routes)
            if route.matches(scope)[0] == Match.FULL
        ]
        assert matched and matched[0].name == f"send_{kind}", (kind, matched)
        assert direct.routes[kind].endpoint is matched[0].endpoint


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (b"", False),
        (b"async=true", True),
        (b"async=TRUE", True),
        (b"async=1", True),
        (b"async=off", False),
        (b"async=maybe", None),
        (b"async=true&async=false", None),
        (b"async=true&x=1", None),
        (b"asyncx=1", None),
    ],
)
def test_async_flag(query: bytes, expected: bool | None) -> None:
    assert _async_flag(query) is expected


def test_idempotency_key_header() -> None:
    assert _idempotency_key([]) == (True, None)
    assert _idempotency_key([(b"idempotency-key", b"abc")]) == (True, "abc")
    assert _idempotency_key([(b"idempotency-key", b"k" * 256)])[0] is False
    assert _idempotency_key([(b"idempotency-key", b"a"), (b"idempotency-key", b"b")])[0] is False
