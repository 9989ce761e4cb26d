"""What media may cost the gateway: a batch's media in all and in memory at once, and the
pixels of an image before anything decodes it."""

from __future__ import annotations

import io
import os
import tracemalloc
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image

from tests.conftest import create_instance, linked_instance
from tests.integration.messaging.conftest import MediaServer, b64, png_bytes
from wagate.engines.link_preview import make_thumbnail

TO = "5511987654321"
MIB = 1024 * 1024


async def batch(client: httpx.AsyncClient, name: str, messages: list[dict[str, Any]]) -> list[Any]:
    response = await client.post(
        f"/v1/instances/{name}/send/batch?async=true", json={"messages": messages}
    )
    assert response.status_code == 202, response.text
    results: list[Any] = response.json()["results"]
    assert len(results) == len(messages)
    return results


def document(url: str) -> dict[str, Any]:
    return {"kind": "document", "to": TO, "media": {"url": url}, "filename": "x.bin"}


# --- a batch's media ------------------------------------------------------------------------


async def test_batch_media_is_capped_in_all(
    client: httpx.AsyncClient, app: FastAPI, media_server: MediaServer
) -> None:
    settings = app.state.wagate.settings
    settings.allow_private_media_urls = True
    settings.max_media_bytes = 1 * MIB
    settings.max_batch_media_bytes = 3 * MIB
    name = (await create_instance(client))["name"]  # not connected: the rows stay queued
    url = media_server.serve("/doc", os.urandom(900 * 1024))
    messages = [document(url) for _ in range(5)]
    messages.insert(2, {"kind": "text", "to": TO, "text": "between"})
    messages.append({"kind": "text", "to": TO, "text": "after"})
    messages.append(
        {
            "kind": "document",
            "to": TO,
            "media": {"base64": b64(b"%PDF-1.4 small")},
            "filename": "a.pdf",
        }
    )
    results = await batch(client, name, messages)
    # 3 x 900 KiB fit in 3 MiB; the fourth would pass it, and so would the fifth.
    queued = [i for i, r in enumerate(results) if r.get("status") == "queued"]
    assert queued == [0, 1, 2, 3, 6, 7], results
    for index in (4, 5):
        error = results[index]["error"]
        assert error["code"] == "payload_too_large"
        assert error["details"] == {"index": index, "limit": 3 * MIB}
        assert f"item {index}" in error["message"]
    for index in queued:
        record = await client.get(
            f"/v1/instances/{name}/messages/{results[index]['correlation_id']}"
        )
        assert record.status_code == 200 and record.json()["status"] == "queued"


async def test_batch_holds_one_item_of_media_at_a_time(
    client: httpx.AsyncClient, app: FastAPI, media_server: MediaServer
) -> None:
    settings = app.state.wagate.settings
    settings.allow_private_media_urls = True
    settings.max_media_bytes = 2 * MIB
    settings.max_batch_media_bytes = 64 * MIB
    name = (await create_instance(client))["name"]  # not connected: no worker reads them back
    items = 12
    urls = [media_server.serve(f"/d{i}", os.urandom(2 * MIB)) for i in range(items)]
    tracemalloc.start()
    try:
        results = await batch(client, name, [document(url) for url in urls])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [r.get("status") for r in results] == ["queued"] * items, results
    # Every item's bytes at once would be 24 MiB (and copies of them); one at a time, a few
    # copies of one item (the download buffer, its bytes, the row being written).
    print(f"peak traced memory of a batch of {items} x 2 MiB: {peak / MIB:.1f} MiB")
    assert peak < 12 * MIB, f"peak {peak / MIB:.1f} MiB"


# --- pixels -----------------------------------------------------------------------------------


def one_colour(size: tuple[int, int], fmt: str = "PNG", **options: Any) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(out, format=fmt, **options)
    return out.getvalue()


@pytest.fixture(scope="module")
def bomb() -> bytes:
    data = one_colour((12000, 12000))  # 144 million pixels in a few hundred kB
    assert len(data) < 1024 * 1024
    return data


async def test_image_bombs_are_refused_before_decoding(
    client: httpx.AsyncClient, app: FastAPI, media_server: MediaServer, bomb: bytes
) -> None:
    settings = app.state.wagate.settings
    settings.allow_private_media_urls = True
    name = (await linked_instance(client))["name"]
    url = media_server.serve("/bomb.png", bomb, **{"Content-Type": "image/png"})
    for kind, media, field in (
        ("sticker", {"base64": b64(bomb)}, "media.base64"),
        ("sticker", {"url": url}, "media.url"),
        ("image", {"base64": b64(bomb)}, "media.base64"),  # the engine makes a thumbnail of it
    ):
        response = await client.post(
            f"/v1/instances/{name}/send/{kind}", json={"to": TO, "media": media}
        )
        assert response.status_code == 422, (kind, response.text)
        error = response.json()["error"]
        assert error["details"]["fields"][0]["field"] == field
        assert "12000x12000" in error["details"]["fields"][0]["message"]
    upload = await client.post(
        f"/v1/instances/{name}/send/sticker",
        data={"to": TO},
        files={"file": ("s.png", bomb, "image/png")},
    )
    assert upload.status_code == 422, upload.text
    # An animated webp sticker is decoded frame by frame by the engine: frames count.
    frames = [Image.new("RGB", (2000, 2000), (i * 40, 0, 0)) for i in range(6)]
    out = io.BytesIO()
    frames[0].save(out, format="WEBP", save_all=True, append_images=frames[1:])
    animated = await client.post(
        f"/v1/instances/{name}/send/sticker",
        json={"to": TO, "media": {"base64": b64(out.getvalue())}},
    )
    assert animated.status_code == 422, animated.text
    assert "6 frames" in animated.text
    # Within the limits: a sticker is converted, an image and a large JPEG photo go.
    for kind, data in (
        ("sticker", png_bytes((600, 300))),
        ("sticker", one_colour((3000, 2000), "JPEG")),
        ("image", one_colour((4096, 4096))),
        ("image", one_colour((9000, 6000), "JPEG")),  # decoded at 1/8 for its thumbnail
    ):
        response = await client.post(
            f"/v1/instances/{name}/send/{kind}", json={"to": TO, "media": {"base64": b64(data)}}
        )
        assert response.status_code == 200, (kind, response.text)
    settings.max_image_pixels = 100 * 100
    response = await client.post(
        f"/v1/instances/{name}/send/sticker",
        json={"to": TO, "media": {"base64": b64(png_bytes((101, 100)))}},
    )
    assert response.status_code == 422, response.text


def test_link_preview_thumbnail_checks_pixels(bomb: bytes) -> None:
    big = one_colour((5000, 5000))  # 25 million pixels: over 4096 x 4096
    with pytest.raises(Exception, match="too large to decode"):
        make_thumbnail(big, 4096 * 4096)
    with pytest.raises(Exception, match="too large to decode"):
        make_thumbnail(bomb, 4096 * 4096)
    jpeg, width, height = make_thumbnail(one_colour((1200, 630)), 4096 * 4096)
    assert (width, height) == (300, 158) and jpeg[:2] == b"\xff\xd8"
