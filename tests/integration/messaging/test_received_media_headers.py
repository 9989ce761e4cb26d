"""Received media is the sender's file: it is served so that it cannot run on the gateway's
origin, and with any file name a phone can give it."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from tests.conftest import linked_instance
from tests.integration.messaging.conftest import png_bytes
from tests.integration.messaging.test_records_chats import get_media

TO = "5511987654321"
HTML = b"<html><body><script>fetch('/v1/instances').then(r => r.text())</script></body></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


async def receive(client: httpx.AsyncClient, name: str, **media: Any) -> httpx.Response:
    data = media.pop("data")
    response = await client.post(
        f"/v1/instances/{name}/simulator/inbound",
        json={
            "from": TO,
            "kind": media.pop("kind", "document"),
            "media": {"base64": base64.b64encode(data).decode(), **media},
        },
    )
    assert response.status_code in (200, 201), response.text
    served = await get_media(client, name, response.json()["message_id"])
    assert served.status_code == 200, served.text
    assert served.content == data
    return served


def assert_contained(response: httpx.Response) -> None:
    assert response.headers["x-content-type-options"] == "nosniff"
    policy = response.headers["content-security-policy"]
    assert "sandbox" in policy and "default-src 'none'" in policy


@pytest.mark.parametrize(
    ("data", "mimetype"),
    [(HTML, "text/html"), (SVG, "image/svg+xml"), (HTML, "application/xhtml+xml")],
    ids=["html", "svg", "xhtml"],
)
async def test_active_content_is_an_attachment(
    client: httpx.AsyncClient, data: bytes, mimetype: str
) -> None:
    name = (await linked_instance(client))["name"]
    served = await receive(client, name, data=data, mimetype=mimetype, filename="page.html")
    assert served.headers["content-disposition"].startswith("attachment")
    assert_contained(served)
    unnamed = await receive(client, name, data=data, mimetype=mimetype)
    assert unnamed.headers["content-disposition"] == "attachment"
    assert_contained(unnamed)


async def test_images_stay_inline_and_a_bad_type_is_neutral(client: httpx.AsyncClient) -> None:
    name = (await linked_instance(client))["name"]
    image = await receive(client, name, kind="image", data=png_bytes(), mimetype="image/png")
    assert image.headers["content-type"] == "image/png"
    assert image.headers["content-disposition"] in ("inline", "")
    assert_contained(image)
    # A type no header can carry (here not Latin-1) is served as plain bytes, not a 500.
    odd = await receive(client, name, data=HTML, mimetype="текст/html")
    assert odd.headers["content-type"] == "application/octet-stream"
    assert odd.headers["content-disposition"].startswith("attachment")


@pytest.mark.parametrize(
    "filename",
    ["отчёт за март.pdf", "報告書.pdf", "🎉 party 🎉.pdf", 'quote"back\\slash.pdf'],
    ids=["cyrillic", "cjk", "emoji", "quotes"],
)
async def test_any_file_name(client: httpx.AsyncClient, filename: str) -> None:
    name = (await linked_instance(client))["name"]
    served = await receive(
        client, name, data=b"%PDF-1.4 test", mimetype="application/pdf", filename=filename
    )
    disposition = served.headers["content-disposition"]
    assert disposition.startswith("attachment; filename=")
    fallback = disposition.split('filename="', 1)[1].split('"', 1)[0]
    assert fallback.isascii() and fallback.endswith(".pdf")
    encoded = disposition.split("filename*=UTF-8''", 1)[1]
    assert unquote(encoded) == filename.replace("\\", "_")
