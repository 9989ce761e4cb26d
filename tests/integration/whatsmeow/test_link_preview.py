"""Link previews of text sends, fetched from a real loopback HTTP server through the gateway's
SSRF-guarded fetcher and built into neonize's own ExtendedTextMessage; every way a fetch can
go wrong gives a text without a preview (or a preview without its picture)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import io
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from neonize.aioze.client import NewAClient
from neonize.proto.Neonize_pb2 import UploadResponse
from neonize.proto.waE2E.WAWebProtobufsE2E_pb2 import ExtendedTextMessage, Message
from PIL import Image

from tests.conftest import make_settings
from tests.support.proxy import Asked, recording_proxy
from wagate.config import Settings
from wagate.engines import link_preview
from wagate.engines.actions import SEND
from wagate.engines.base import NotConnectedError, OutgoingMessage
from wagate.engines.whatsmeow import protocol
from wagate.engines.whatsmeow.builders import build_message
from wagate.engines.whatsmeow.engine import WhatsmeowClient
from wagate.engines.whatsmeow.supervisor import EngineHost

pytestmark = pytest.mark.e2e

TO = "5511987654321@s.whatsapp.net"
PAGE = b"""<!doctype html><html><head>
<meta charset="utf-8"><title>Ignored when og:title exists</title>
<meta property="og:title" content="Fish &amp; Chips   Weekly">
<meta property="og:description" content="All about fish, and chips.">
<meta property="og:image" content="/pic.png">
</head><body><p>hello</p></body></html>"""
PLAIN = b"""<html><head><title>
  Plain page </title><meta name="description" content="Only the basics"></head></html>"""


def picture(size: tuple[int, int], fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(out, format=fmt)
    return out.getvalue()


Body = bytes | Callable[[asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Site:
    """A tiny HTTP/1.1 server on the test's loop: fixed pages, a page that never answers, and
    a body that streams for as long as the client reads."""

    routes: dict[str, tuple[str, Body]] = field(default_factory=dict)
    hits: list[str] = field(default_factory=list)
    writers: list[asyncio.StreamWriter] = field(default_factory=list)
    streamed: int = 0
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        try:
            request = await reader.readline()
            while (await reader.readline()).strip():
                pass
            path = request.split()[1].decode()
            self.hits.append(path)
            if path not in self.routes:
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                return
            content_type, body = self.routes[path]
            if callable(body):
                writer.write(
                    f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n"
                    "Connection: close\r\n\r\n".encode()
                )
                await body(writer)
                return
            writer.write(
                f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def site() -> AsyncIterator[Site]:
    served = Site()
    server = await asyncio.start_server(served.handle, "127.0.0.1", 0)
    served.port = server.sockets[0].getsockname()[1]
    served.routes["/page"] = ("text/html; charset=utf-8", PAGE)
    served.routes["/pic.png"] = ("image/png", picture((800, 600)))
    served.routes["/plain"] = ("text/html", PLAIN)
    try:
        yield served
    finally:
        server.close()
        for writer in served.writers:
            writer.close()
        await server.wait_closed()


def settings_for(tmp_path: Path, allow_private: bool = True) -> Settings:
    return make_settings(
        f"sqlite+aiosqlite:///{tmp_path}/x.db", tmp_path, allow_private_media_urls=allow_private
    )


class Uploads:
    """neonize's upload (the only network step of a build) answering a real UploadResponse."""

    def __init__(self) -> None:
        self.calls: list[tuple[bytes, Any]] = []

    async def __call__(self, binary: bytes, media_type: Any = None) -> Any:
        self.calls.append((binary, media_type))
        return UploadResponse(
            url="https://mmg.whatsapp.net/v/t62/thumb",
            DirectPath="/v/t62/thumb",
            MediaKey=b"k" * 32,
            FileEncSHA256=b"e" * 32,
            FileSHA256=hashlib.sha256(binary).digest(),
            FileLength=len(binary),
        )


@pytest.fixture
def neonize_client(tmp_path: Path) -> tuple[Any, Uploads]:
    client = NewAClient(str(tmp_path / "store.sqlite3"), uuid=f"preview-{tmp_path.name}")
    uploads = Uploads()
    client.upload = uploads
    return client, uploads


def text_send(text: str, preview: link_preview.LinkPreview | None) -> OutgoingMessage:
    body: dict[str, Any] = {"text": text, "link_preview": True}
    if preview is not None:
        body["preview"] = preview.to_body()
    message = OutgoingMessage("text", TO, body, "c1", mentions=("5511911112222",))
    # As the host receives it: through the wire format (the thumbnail as bytes).
    wire = protocol.decode(protocol.encode(protocol.outgoing_to_wire(message))[4:])
    return protocol.outgoing_from_wire(wire)


async def test_og_tags_and_image_become_the_extended_text_preview(
    site: Site, tmp_path: Path, neonize_client: tuple[Any, Uploads]
) -> None:
    text = f"Read this: {site.url}/page. Good stuff"
    preview = await link_preview.build(text, settings_for(tmp_path))
    assert preview is not None
    assert preview.url == f"{site.url}/page"  # the sentence's full stop is not part of it
    assert preview.title == "Fish & Chips Weekly"
    assert preview.description == "All about fish, and chips."
    assert preview.thumbnail is not None and preview.thumbnail[:2] == b"\xff\xd8"  # JPEG
    assert (preview.thumbnail_width, preview.thumbnail_height) == (300, 225)
    assert site.hits == ["/page", "/pic.png"]  # the relative og:image, against the page

    client, uploads = neonize_client
    built = await build_message(client, text_send(text, preview), None)
    assert Message.FromString(built.SerializeToString()) == built  # complete, encodable
    extended = built.extendedTextMessage
    assert extended.text == text
    assert extended.matchedText == f"{site.url}/page"
    assert extended.title == "Fish & Chips Weekly"
    assert extended.description == "All about fish, and chips."
    assert extended.JPEGThumbnail == preview.thumbnail
    assert (extended.thumbnailWidth, extended.thumbnailHeight) == (300, 225)
    assert extended.previewType == ExtendedTextMessage.PreviewType.NONE
    assert extended.thumbnailDirectPath == "/v/t62/thumb"  # the HQ copy, as WhatsApp Web does
    assert uploads.calls and uploads.calls[0][0] == preview.thumbnail
    assert list(extended.contextInfo.mentionedJID) == ["5511911112222@s.whatsapp.net"]


async def test_title_and_description_meta_without_an_image(
    site: Site, tmp_path: Path, neonize_client: tuple[Any, Uploads]
) -> None:
    text = f"({site.url}/plain)"
    preview = await link_preview.build(text, settings_for(tmp_path))
    assert preview is not None
    assert (preview.title, preview.description) == ("Plain page", "Only the basics")
    assert preview.thumbnail is None

    client, uploads = neonize_client
    built = await build_message(client, text_send(text, preview), None)
    assert built.extendedTextMessage.title == "Plain page"
    assert not built.extendedTextMessage.HasField("JPEGThumbnail") and not uploads.calls


async def test_a_broken_or_oversized_image_keeps_the_preview_without_picture(
    site: Site, tmp_path: Path
) -> None:
    site.routes["/pic.png"] = ("image/png", b"\x89PNG\r\n\x1a\nnot really")
    preview = await link_preview.build(f"{site.url}/page", settings_for(tmp_path))
    assert preview is not None and preview.title and preview.thumbnail is None

    big = link_preview.IMAGE_LIMIT + 1
    site.routes["/pic.png"] = ("image/png", picture((64, 64)) + b"\0" * big)
    preview = await link_preview.build(f"{site.url}/page", settings_for(tmp_path))
    assert preview is not None and preview.thumbnail is None


async def test_a_page_that_hangs_gives_no_preview_in_bounded_time(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def never(writer: asyncio.StreamWriter) -> None:
        while not writer.is_closing():  # headers sent, the body never comes
            await asyncio.sleep(0.05)

    site.routes["/hang"] = ("text/html", never)
    monkeypatch.setattr(link_preview, "PAGE_TIMEOUT_S", 0.5)
    started = time.monotonic()
    assert await link_preview.build(f"{site.url}/hang", settings_for(tmp_path)) is None
    assert time.monotonic() - started < 3


@pytest.mark.parametrize("tags_first", [False, True])
async def test_a_huge_page_is_read_only_up_to_the_limit(
    site: Site, tmp_path: Path, tags_first: bool
) -> None:
    total = 20 * 1024 * 1024

    async def huge(writer: asyncio.StreamWriter) -> None:
        if tags_first:
            writer.write(PAGE)
        chunk = b"<!--" + b"x" * 65_000 + b"-->"
        while site.streamed < total:
            writer.write(chunk)
            site.streamed += len(chunk)
            await writer.drain()
        writer.write(PAGE)

    site.routes["/huge"] = ("text/html", huge)
    started = time.monotonic()
    preview = await link_preview.build(f"{site.url}/huge", settings_for(tmp_path))
    assert time.monotonic() - started < 5
    await asyncio.sleep(0.2)
    assert site.streamed < total // 4  # the reader hung up after its 512 KiB
    if tags_first:  # tags in the head, as pages have them: found in what was read
        assert preview is not None and preview.title == "Fish & Chips Weekly"
    else:  # the tags came after 20 MiB of padding: not read, no preview
        assert preview is None


async def test_private_addresses_are_refused_without_the_setting(
    site: Site, tmp_path: Path
) -> None:
    refused = await link_preview.build(f"{site.url}/page", settings_for(tmp_path, False))
    assert refused is None and site.hits == []  # refused before any connection


async def test_texts_without_a_page_get_no_preview(site: Site, tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    assert await link_preview.build("no link here, only www.example", settings) is None
    assert await link_preview.build(f"ftp://x and {site.url}/pic.png", settings) is None
    assert site.hits == ["/pic.png"]  # an image is not a page
    assert await link_preview.build(f"{site.url}/missing", settings) is None


def test_first_url() -> None:
    assert link_preview.first_url("see https://a.example/x?y=1, and http://b") == (
        "https://a.example/x?y=1"
    )
    assert link_preview.first_url("https://en.wikipedia.org/wiki/Fish_(food)!") == (
        "https://en.wikipedia.org/wiki/Fish_(food)"
    )
    assert link_preview.first_url("(http://a.example/b)") == "http://a.example/b"
    assert link_preview.first_url("https://") is None


@pytest.fixture
def started_overrides() -> dict[str, Any]:
    return {"allow_private_media_urls": True, "allow_private_proxies": True}


async def test_the_engine_fetches_the_preview_at_send_time(
    site: Site, started: tuple[WhatsmeowClient, EngineHost]
) -> None:
    client, _ = started
    text = f"look {site.url}/page"
    with_preview = await client._with_preview(
        OutgoingMessage("text", TO, {"text": text, "link_preview": True}, "c1")
    )
    assert with_preview.body["preview"]["title"] == "Fish & Chips Weekly"
    assert site.hits == ["/page", "/pic.png"]

    site.hits.clear()
    with pytest.raises(NotConnectedError):  # the whole send: previewed, then refused unlinked
        await client.call(
            SEND, OutgoingMessage("text", TO, {"text": text, "link_preview": True}, "c2")
        )
    assert site.hits == ["/page", "/pic.png"]
    with pytest.raises(NotConnectedError):  # no link_preview: nothing fetched
        await client.call(SEND, OutgoingMessage("text", TO, {"text": text}, "c3"))
    assert site.hits == ["/page", "/pic.png"]


async def test_the_preview_of_an_instance_with_a_proxy_is_fetched_through_it(
    started: tuple[WhatsmeowClient, EngineHost],
) -> None:
    client, _ = started
    async with recording_proxy() as proxy:
        proxy.pages = {"/page": (PAGE, "text/html"), "/pic.png": (picture((600, 450)), "image/png")}
        client.instance = dataclasses.replace(client.instance, proxy=proxy.url("acct:secret"))
        # Nothing listens there: only the proxy can answer.
        page = f"http://127.0.0.1:{proxy.port}/page"
        with_preview = await client._with_preview(
            OutgoingMessage("text", TO, {"text": f"look {page}", "link_preview": True}, "c1")
        )
        assert with_preview.body["preview"]["title"] == "Fish & Chips Weekly"
        assert with_preview.body["preview"]["thumbnail"]
        image = f"http://127.0.0.1:{proxy.port}/pic.png"
        assert proxy.asked == [
            Asked("GET", page, "acct:secret"),
            Asked("GET", image, "acct:secret"),
        ]
