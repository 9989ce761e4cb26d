"""Every bad input answers a 4xx naming the field; the SSRF guard; the size limit."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import create_instance, linked_instance
from tests.integration.messaging.conftest import MediaServer, b64, png_bytes
from wagate import fetch, netguard
from wagate.errors import PayloadTooLarge


def fields(response: httpx.Response) -> list[str]:
    return [item["field"] for item in response.json()["error"]["details"].get("fields", [])]


async def post(client: httpx.AsyncClient, name: str, kind: str, body: Any) -> httpx.Response:
    return await client.post(f"/v1/instances/{name}/send/{kind}", json=body)


BAD: list[tuple[str, Any, str]] = [
    ("fax", {"to": "5511987654321", "text": "x"}, "kind"),
    ("text", {"to": "5511987654321", "text": ""}, "text"),
    ("text", {"to": "5511987654321"}, "text"),
    ("text", {"to": "12", "text": "x"}, "to"),
    ("text", {"to": "abc@nowhere.com", "text": "x"}, "to"),
    ("text", {"to": "5511987654321", "text": "x", "colour": "red"}, "colour"),
    ("text", {"to": "5511987654321", "text": "x", "mentions": ["nope"]}, "mentions.0"),
    ("image", {"to": "5511987654321", "media": {"base64": "%%%not base64"}}, "media.base64"),
    ("image", {"to": "5511987654321"}, "media"),
    ("image", {"to": "5511987654321", "media": {}}, "media"),
    (
        "image",
        {"to": "5511987654321", "media": {"base64": b64(b"just text, no image")}},
        "media.base64",
    ),
    ("video", {"to": "5511987654321", "media": {"base64": b64(png_bytes())}}, "media.base64"),
    (
        "image",
        {"to": "5511987654321", "media": {"base64": b64(png_bytes()), "mimetype": "video/mp4"}},
        "media.mimetype",
    ),
    ("image", {"to": "5511987654321", "media": {"url": "ftp://example.com/a.png"}}, "media.url"),
    ("document", {"to": "5511987654321", "media": {"base64": b64(b"x")}}, "filename"),
    ("location", {"to": "5511987654321", "latitude": 91, "longitude": 0}, "latitude"),
    ("location", {"to": "5511987654321", "latitude": 0, "longitude": "east"}, "longitude"),
    ("poll", {"to": "5511987654321", "question": "q", "options": ["a"] * 11}, "options"),
    (
        "poll",
        {"to": "5511987654321", "question": "q", "options": [str(i) for i in range(13)]},
        "options",
    ),
    (
        "poll",
        {"to": "5511987654321", "question": "q", "options": ["a", "b"], "selectable_count": 3},
        "selectable_count",
    ),
    ("contact", {"to": "5511987654321", "contacts": []}, "contacts"),
    (
        "contact",
        {"to": "5511987654321", "contacts": [{"name": "A", "phone": "x1"}]},
        "contacts.0.phone",
    ),
    ("reaction", {"to": "5511987654321", "emoji": "👍"}, "message_id"),
]


async def test_bad_inputs(client: httpx.AsyncClient) -> None:
    name = (await linked_instance(client))["name"]
    for kind, body, field in BAD:
        response = await post(client, name, kind, body)
        assert response.status_code == 422, (kind, body, response.text)
        assert response.json()["error"]["code"] == "validation_error"
        assert any(f == field or f.startswith(field + ".") for f in fields(response)), (
            kind,
            field,
            response.json(),
        )
    for raw in (b"{not json", b"[1, 2]", b"\xff\xfe"):
        response = await client.post(
            f"/v1/instances/{name}/send/text",
            content=raw,
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 422, response.text
        assert fields(response) == ["body"]
    response = await client.post(f"/v1/instances/{name}/send/text?async=maybe", json={})
    assert response.status_code == 422
    # nothing was recorded for any of them
    listed = (await client.get(f"/v1/instances/{name}/messages")).json()
    assert listed["messages"] == []


async def test_not_on_whatsapp_and_not_connected(client: httpx.AsyncClient) -> None:
    name = (await linked_instance(client))["name"]
    response = await post(client, name, "text", {"to": "5511900000000", "text": "x"})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "not_on_whatsapp"
    record = await client.get(f"/v1/instances/{name}/messages/{error['details']['correlation_id']}")
    assert record.json()["status"] == "failed"
    assert record.json()["error"]["code"] == "not_on_whatsapp"

    idle = (await create_instance(client))["name"]
    response = await post(client, idle, "text", {"to": "5511987654321", "text": "x"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "instance_not_connected"
    response = await post(client, "no-such-instance", "text", {"to": "5511987654321", "text": "x"})
    assert response.status_code == 404


async def test_ssrf_guard(
    client: httpx.AsyncClient, app: FastAPI, media_server: MediaServer
) -> None:
    name = (await linked_instance(client))["name"]
    url = media_server.serve("/p.png", png_bytes(), **{"Content-Type": "image/png"})
    for target in (
        url,
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/x.png",
        "http://10.1.2.3/a",
    ):
        response = await post(
            client, name, "image", {"to": "5511987654321", "media": {"url": target}}
        )
        assert response.status_code == 422, (target, response.text)
        assert fields(response) == ["media.url"]
        assert "private" in response.json()["error"]["details"]["fields"][0]["message"]
    app.state.wagate.settings.allow_private_media_urls = True
    response = await post(client, name, "image", {"to": "5511987654321", "media": {"url": url}})
    assert response.status_code == 200, response.text


async def test_redirect_to_private_is_checked(
    client: httpx.AsyncClient,
    app: FastAPI,
    media_server: MediaServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Pretend 127.0.0.1 is public so the first hop passes; the redirect target must not.
    monkeypatch.setattr(netguard, "is_public", lambda address: address == "127.0.0.1")
    name = (await linked_instance(client))["name"]
    port = media_server.url.rsplit(":", 1)[1]
    good = media_server.serve("/ok.png", png_bytes())
    hop = media_server.serve("/hop", b"", status=302, Location=f"http://127.0.0.2:{port}/ok.png")
    response = await post(client, name, "image", {"to": "5511987654321", "media": {"url": hop}})
    assert response.status_code == 422, response.text
    assert fields(response) == ["media.url"]
    response = await post(client, name, "image", {"to": "5511987654321", "media": {"url": good}})
    assert response.status_code == 200, response.text


async def test_download_errors(
    client: httpx.AsyncClient, app: FastAPI, media_server: MediaServer
) -> None:
    settings = app.state.wagate.settings
    settings.allow_private_media_urls = True
    settings.media_download_timeout_s = 0.5
    name = (await linked_instance(client))["name"]
    for url in (media_server.url + "/slow", media_server.url + "/missing", "http://127.0.0.1:1/x"):
        response = await post(client, name, "image", {"to": "5511987654321", "media": {"url": url}})
        assert response.status_code == 422, (url, response.text)
        assert fields(response) == ["media.url"]


async def test_size_limit(
    client: httpx.AsyncClient, app: FastAPI, media_server: MediaServer
) -> None:
    settings = app.state.wagate.settings
    settings.max_media_bytes = 10_000
    settings.allow_private_media_urls = True
    name = (await linked_instance(client))["name"]
    big = png_bytes((400, 400), "BMP")  # far over 10 kB
    assert len(big) > 100_000
    response = await post(
        client, name, "image", {"to": "5511987654321", "media": {"base64": b64(big)}}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    response = await client.post(
        f"/v1/instances/{name}/send/image",
        data={"to": "5511987654321"},
        files={"file": ("big.bmp", big, "image/bmp")},
    )
    assert response.status_code == 413, response.text
    # a URL body over the limit, with and without a Content-Length that says so
    declared = media_server.serve("/big", big)
    response = await post(
        client, name, "image", {"to": "5511987654321", "media": {"url": declared}}
    )
    assert response.status_code == 413, response.text
    chunks_seen = 0

    async def endless() -> Any:
        nonlocal chunks_seen
        while True:
            chunks_seen += 1
            yield b"x" * 4096

    with pytest.raises(PayloadTooLarge):
        await fetch.read_limited(endless(), 10_000)
    assert chunks_seen == 3  # cut off at the limit, never read whole
