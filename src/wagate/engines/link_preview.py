"""Link previews for text sends (`link_preview: true`), built at send time by the engine.

The first http(s) URL of the text is fetched with the guarded fetcher (`wagate.fetch.download`:
the SSRF guard on every address and redirect, a timeout, a size cap), at most HTML_LIMIT bytes of
its HTML are read, and og:title / og:description / og:image (else <title> and the description
meta) are taken from it. The image, if any, is fetched the same way, capped, and turned into a
small JPEG. Whatever fails (refused address, timeout, no tags, a broken image) gives no preview
or no thumbnail: a preview never fails a send.
"""

from __future__ import annotations

import asyncio
import io
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin

import structlog

from wagate.config import Settings
from wagate.errors import ApiError
from wagate.fetch import download
from wagate.images import JPEG_MAX_PIXELS, check_pixels

log = structlog.get_logger(__name__)

URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
TRAILING = ".,;:!?)]}'\""  # sentence punctuation after a URL is not part of it
# Longer is not a link anyone shares (browsers and WhatsApp itself stop far below 64k); a text
# of one 65k-character "URL" gets no preview rather than a fetch of it.
MAX_URL_CHARS = 2048
HTML_LIMIT = 512 * 1024
IMAGE_LIMIT = 4 * 1024 * 1024
PAGE_TIMEOUT_S = 5.0
IMAGE_TIMEOUT_S = 5.0
TOTAL_TIMEOUT_S = 8.0  # what a preview may add to a send, at most
THUMBNAIL_SIDE = 300
TITLE_CHARS, DESCRIPTION_CHARS = 300, 1000
YOUTUBE = re.compile(r"^https?://(?:www\.|m\.)?(?:youtube\.com/|youtu\.be/)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class LinkPreview:
    url: str  # as it appears in the text (ExtendedTextMessage.matchedText)
    title: str
    description: str
    thumbnail: bytes | None = None  # JPEG
    thumbnail_width: int = 0
    thumbnail_height: int = 0

    @property
    def video(self) -> bool:
        return bool(YOUTUBE.match(self.url))

    def to_body(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "title": self.title,
            "description": self.description,
            "thumbnail": self.thumbnail,
            "thumbnail_width": self.thumbnail_width,
            "thumbnail_height": self.thumbnail_height,
            "video": self.video,
        }


def first_url(text: str) -> str | None:
    match = URL.search(text)
    if match is None:
        return None
    url = match.group(0)
    # One pass from the end, with the parentheses counted once: a per-character slice and
    # recount was quadratic (seconds of event loop for a text of 65k closing brackets).
    opens, closes = url.count("("), url.count(")")
    end = len(url)
    while end and url[end - 1] in TRAILING:
        if url[end - 1] == ")":
            # Keep a closing parenthesis that closes one inside the URL (wikipedia links).
            if opens >= closes:
                break
            closes -= 1
        end -= 1
    if not len("https://") < end <= MAX_URL_CHARS:
        return None
    return url[:end]


class _Meta(HTMLParser):
    """The preview tags of a page (og:*, twitter:*, <title>, the description meta)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, str] = {}
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = not self.title
        elif tag == "meta":
            values = {key.lower(): value or "" for key, value in attrs}
            key = (values.get("property") or values.get("name") or "").strip().lower()
            content = values.get("content", "").strip()
            if key and content and key not in self.meta:
                self.meta[key] = content

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data


def parse_html(html: str) -> tuple[str, str, str | None]:
    """(title, description, image URL as written) of a page."""
    parser = _Meta()
    try:
        parser.feed(html)
        parser.close()
    except Exception as exc:  # html.parser is lenient; never let a page fail a send
        log.debug("link preview: HTML parse stopped", reason=type(exc).__name__)
    meta = parser.meta
    title = meta.get("og:title") or meta.get("twitter:title") or parser.title
    description = (
        meta.get("og:description")
        or meta.get("twitter:description")
        or meta.get("description")
        or ""
    )
    image = (
        meta.get("og:image")
        or meta.get("og:image:url")
        or meta.get("og:image:secure_url")
        or meta.get("twitter:image")
    )
    return " ".join(title.split()), " ".join(description.split()), image


def make_thumbnail(data: bytes, max_pixels: int) -> tuple[bytes, int, int]:
    """A small JPEG of an image: (bytes, width, height). Raises on what is not an image, and
    on one whose header says it has more than `max_pixels` (a decompression bomb)."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        if image.format == "JPEG":  # decoded at a reduced scale (draft, below)
            max_pixels = max(max_pixels, JPEG_MAX_PIXELS)
        check_pixels(image, max_pixels, "link_preview.image")
        image.draft("RGB", (THUMBNAIL_SIDE, THUMBNAIL_SIDE))  # JPEG: decode at a reduced scale
        picture = image.convert("RGB")
        picture.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
        out = io.BytesIO()
        picture.save(out, format="JPEG", quality=75, optimize=True)
        return out.getvalue(), picture.width, picture.height


def _decode(body: bytes, content_type: str | None) -> str | None:
    if content_type and not (
        content_type.startswith("text/html") or content_type.startswith("application/xhtml")
    ):
        return None  # a PDF or an image link: no page to read
    return body.decode("utf-8", "replace")


async def _fetch(text: str, settings: Settings, proxy: str | None) -> LinkPreview | None:
    url = first_url(text)
    if url is None:
        return None
    body, content_type = await download(
        url, settings, limit=HTML_LIMIT, timeout_s=PAGE_TIMEOUT_S, truncate=True, proxy=proxy
    )
    html = _decode(body, content_type)
    if html is None:
        return None
    title, description, image = await asyncio.to_thread(parse_html, html)
    if not title and not description:
        return None
    preview = LinkPreview(url, title[:TITLE_CHARS], description[:DESCRIPTION_CHARS])
    if not image:
        return preview
    try:
        data, _ = await download(
            urljoin(url, image),
            settings,
            limit=IMAGE_LIMIT,
            timeout_s=IMAGE_TIMEOUT_S,
            proxy=proxy,
        )
        jpeg, width, height = await asyncio.to_thread(
            make_thumbnail, data, settings.max_image_pixels
        )
    except Exception as exc:  # the preview goes without its picture
        log.info("link preview: no thumbnail", reason=_reason(exc))
        return preview
    return LinkPreview(preview.url, preview.title, preview.description, jpeg, width, height)


async def build(text: str, settings: Settings, proxy: str | None = None) -> LinkPreview | None:
    """The preview of the text's first URL (fetched through the instance's `proxy`, if it has
    one), or None; never raises (but for cancellation)."""
    try:
        async with asyncio.timeout(TOTAL_TIMEOUT_S):
            return await _fetch(text, settings, proxy)
    except Exception as exc:
        log.info("link preview: none", reason=_reason(exc))
        return None


def _reason(exc: BaseException) -> str:
    # The fetcher's own messages name no URL; other errors may quote one (and a URL in a
    # user's text can carry a token): log only their type.
    if isinstance(exc, ApiError):
        return exc.message
    return "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
