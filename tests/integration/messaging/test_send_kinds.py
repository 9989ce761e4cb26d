"""Every kind of send, synchronously, through the queue, on the simulator."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI

from tests.conftest import linked_instance
from tests.integration.instance_helpers import bad_fields
from tests.integration.messaging.conftest import b64, png_bytes


async def outbox(client: httpx.AsyncClient, name: str) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/instances/{name}/simulator/outbox")
    assert response.status_code == 200
    items: list[dict[str, Any]] = response.json()["messages"]
    return items


async def test_text_sync(client: httpx.AsyncClient, app: FastAPI) -> None:
    name = (await linked_instance(client))["name"]
    response = await client.post(
        f"/v1/instances/{name}/send/text", json={"to": "+55 11 98765-4321", "text": "hello"}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "sent"
    assert body["message_id"].startswith("3EB0")
    assert body["timestamp"]
    sent = await outbox(client, name)
    assert [(m["to"], m["kind"], m["body"]["text"]) for m in sent] == [
        ("5511987654321@s.whatsapp.net", "text", "hello")
    ]
    record = (await client.get(f"/v1/instances/{name}/messages/{body['correlation_id']}")).json()
    assert record["status"] in {"sent", "delivered", "read"}
    assert record["to"] == "5511987654321"
    assert record["attempts"] == 1


async def send(
    client: httpx.AsyncClient, instance: str, kind: str, /, **body: Any
) -> httpx.Response:
    return await client.post(f"/v1/instances/{instance}/send/{kind}", json=body)


async def test_every_kind(client: httpx.AsyncClient) -> None:
    name = (await linked_instance(client))["name"]
    image = b64(png_bytes())
    cases: list[tuple[str, dict[str, Any]]] = [
        ("text", {"text": "hi", "link_preview": True, "mentions": ["+5511911112222"]}),
        ("image", {"media": {"base64": image}, "caption": "a picture"}),
        ("video", {"media": {"base64": b64(MP4)}, "gif": True}),
        ("audio", {"media": {"base64": b64(OGG)}, "ptt": True}),
        ("document", {"media": {"base64": b64(b"%PDF-1.4\n1 0 obj\n")}, "filename": "a.pdf"}),
        ("sticker", {"media": {"base64": image}}),
        ("location", {"latitude": -23.5, "longitude": -46.6, "name": "SP", "address": "Av"}),
        (
            "contact",
            {"contacts": [{"name": "Ana, Maria", "phone": "+55 11 91234-5678", "email": "a@b.c"}]},
        ),
        ("reaction", {"message_id": "3EB0ABC", "emoji": "👍"}),
        ("poll", {"question": "Lunch?", "options": ["yes", "no"], "selectable_count": 1}),
    ]
    for kind, body in cases:
        response = await send(client, name, kind, to="5511987654321", reply_to="3EB0Q", **body)
        assert response.status_code == 200, (kind, response.text)
        assert response.json()["status"] == "sent"
    sent = {m["kind"]: m for m in await outbox(client, name)}
    assert set(sent) == {kind for kind, _ in cases}
    assert sent["text"]["body"]["mentions"] == ["5511911112222@s.whatsapp.net"]
    assert sent["text"]["body"]["reply_to"] == "3EB0Q"
    assert sent["image"]["body"]["media"]["mimetype"] == "image/png"
    assert sent["image"]["body"]["caption"] == "a picture"
    assert sent["video"]["body"]["media"]["mimetype"] == "video/mp4"
    assert sent["audio"]["body"]["ptt"] is True
    assert sent["document"]["body"]["media"]["mimetype"] == "application/pdf"
    assert sent["document"]["body"]["media"]["filename"] == "a.pdf"
    # png is converted: a sticker always leaves as webp
    assert sent["sticker"]["body"]["media"]["mimetype"] == "image/webp"
    card = sent["contact"]["body"]["contacts"][0]
    assert card["phone"] == "5511912345678"
    assert "FN:Ana\\, Maria" in card["vcard"]
    assert "waid=5511912345678:+5511912345678" in card["vcard"]
    assert sent["reaction"]["body"] == {"message_id": "3EB0ABC", "emoji": "👍", "reply_to": "3EB0Q"}
    assert sent["poll"]["body"]["options"] == ["yes", "no"]
    assert sent["location"]["body"]["latitude"] == -23.5


async def test_view_once(client: httpx.AsyncClient) -> None:
    name = (await linked_instance(client))["name"]
    media = {
        "image": b64(png_bytes()),
        "video": b64(MP4),
        "audio": b64(OGG),
    }
    for kind, data in media.items():
        response = await send(
            client, name, kind, to="5511987654321", media={"base64": data}, view_once=True
        )
        assert response.status_code == 200, (kind, response.text)
    plain = await send(client, name, "image", to="5511987654321", media={"base64": media["image"]})
    assert plain.status_code == 200, plain.text
    upload = await client.post(
        f"/v1/instances/{name}/send/audio",
        data={"to": "5511987654321", "view_once": "true"},
        files={"file": ("a.ogg", OGG, "audio/ogg")},
    )
    assert upload.status_code == 200, upload.text
    sent = await outbox(client, name)
    assert [(m["kind"], m["body"].get("view_once")) for m in sent] == [
        ("image", True),
        ("video", True),
        ("audio", True),
        ("image", None),  # not set: the stored body is what it was before the flag
        ("audio", True),
    ]
    for kind, body in [
        ("text", {"text": "hi"}),
        ("document", {"media": {"base64": b64(b"%PDF-1.4\n")}, "filename": "a.pdf"}),
        ("sticker", {"media": {"base64": media["image"]}}),
        ("location", {"latitude": 1, "longitude": 2}),
    ]:
        response = await send(client, name, kind, to="5511987654321", view_once=True, **body)
        assert bad_fields(response) == {"view_once"}, (kind, response.text)


async def test_to_as_jid_and_group(client: httpx.AsyncClient) -> None:
    name = (await linked_instance(client))["name"]
    for to in ("5511987654321@s.whatsapp.net", "120363025246125486@g.us", "12345678@lid"):
        response = await send(client, name, "text", to=to, text="x")
        assert response.status_code == 200, response.text
    assert [m["to"] for m in await outbox(client, name)] == [
        "5511987654321@s.whatsapp.net",
        "120363025246125486@g.us",
        "12345678@lid",
    ]


async def test_multipart_upload(client: httpx.AsyncClient) -> None:
    name = (await linked_instance(client))["name"]
    response = await client.post(
        f"/v1/instances/{name}/send/image",
        data={"to": "5511987654321", "caption": "up", "mentions": "5511911112222"},
        files={"file": ("p.png", png_bytes(), "application/octet-stream")},
    )
    assert response.status_code == 200, response.text
    response = await client.post(
        f"/v1/instances/{name}/send/document",
        data={"to": "5511987654321", "filename": "notes.txt"},
        files={"file": ("n.txt", b"plain text notes", "text/plain")},
    )
    assert response.status_code == 200, response.text
    sent = await outbox(client, name)
    assert sent[0]["body"]["caption"] == "up"
    assert sent[0]["body"]["media"]["size"] == len(png_bytes())
    assert sent[1]["body"]["media"] == {
        "mimetype": "text/plain",
        "size": 16,
        "filename": "notes.txt",
    }


async def test_media_from_url(client: httpx.AsyncClient, app: FastAPI, media_server: Any) -> None:
    # The test server is on loopback: allowed only because the app allows private URLs.
    app.state.wagate.settings.allow_private_media_urls = True
    name = (await linked_instance(client))["name"]
    url = media_server.serve("/img.png", png_bytes(), **{"Content-Type": "image/png"})
    moved = media_server.serve("/moved", b"", status=302, Location="/img.png")
    for source in (url, moved):
        response = await send(client, name, "image", to="5511987654321", media={"url": source})
        assert response.status_code == 200, response.text
    assert len(await outbox(client, name)) == 2


MP4 = bytes.fromhex("000000186674797069736f6d0000020069736f6d69736f32") + b"\x00" * 64
OGG = b"OggS\x00\x02" + b"\x00" * 22 + b"\x01\x1eOpusHead" + b"\x00" * 32
