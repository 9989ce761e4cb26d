"""Media of a send: read it (URL, base64 or upload) within the size limit, then check what it is.

URLs are fetched through the address guard (wagate/netguard.py): every address the host resolves
to must be public unless WAGATE_ALLOW_PRIVATE_MEDIA_URLS is set, the connection goes to the
address that was checked (no second DNS answer can swap it), and each redirect is checked again.
"""

from __future__ import annotations

import asyncio
import binascii
import io
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urljoin, urlsplit

import filetype
import httpx

from wagate import netguard
from wagate.config import Settings
from wagate.engines.base import OutgoingMedia
from wagate.errors import ApiError, PayloadTooLarge, ValidationFailed
from wagate.messages.schemas import MediaIn

MAX_REDIRECTS = 5
# Which sniffed types each kind accepts (document takes anything).
ACCEPTED = {
    "image": ("image/jpeg", "image/png", "image/webp", "image/gif"),
    "video": ("video/",),
    "audio": ("audio/", "application/ogg", "video/mp4"),
    "sticker": ("image/webp", "image/png", "image/jpeg"),
}
STICKER_SIDE = 512


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the media is larger than the limit of {limit} bytes", details={"limit": limit}
    )


async def read_limited(chunks: AsyncIterator[bytes], limit: int, truncate: bool = False) -> bytes:
    """Collect a byte stream, stopping with 413 as soon as it passes `limit` (or, with
    `truncate`, returning its first `limit` bytes)."""
    buffer = bytearray()
    async for chunk in chunks:
        buffer.extend(chunk)
        if len(buffer) > limit:
            if truncate:
                return bytes(buffer[:limit])
            raise too_large(limit)
    return bytes(buffer)


def decode_base64(text: str, limit: int) -> bytes:
    if text.startswith("data:") and "," in text[:256]:
        text = text.split(",", 1)[1]
    # Four base64 characters carry three bytes: refuse before decoding anything too big.
    if (len(text) // 4) * 3 > limit + 3:
        raise too_large(limit)
    compact = "".join(text.split())
    try:
        data = binascii.a2b_base64(compact, strict_mode=True)
    except (binascii.Error, ValueError) as exc:
        raise ValidationFailed.field("media.base64", f"not valid base64: {exc}") from exc
    if not data:
        raise ValidationFailed.field("media.base64", "the media is empty")
    if len(data) > limit:
        raise too_large(limit)
    return data


# --- URLs ----------------------------------------------------------------------------------


async def download(
    url: str,
    settings: Settings,
    client: httpx.AsyncClient | None = None,
    *,
    limit: int | None = None,
    timeout_s: float | None = None,
    truncate: bool = False,
) -> tuple[bytes, str | None]:
    """The body of `url` and its declared content type, within the limit and the timeout
    (the media ones unless given; `truncate`: the body's first `limit` bytes, not a 413)."""
    limit = settings.max_media_bytes if limit is None else limit
    timeout_s = settings.media_download_timeout_s if timeout_s is None else timeout_s
    own = client is None
    http = client or httpx.AsyncClient(timeout=httpx.Timeout(timeout_s))
    try:
        async with asyncio.timeout(timeout_s):
            for _ in range(MAX_REDIRECTS + 1):
                try:
                    target = await netguard.checked_target(url, settings.allow_private_media_urls)
                except netguard.Refused as exc:
                    raise ValidationFailed.field("media.url", str(exc)) from exc
                sni = target.server_name
                extensions = {"sni_hostname": sni} if sni else {}
                request = http.build_request(
                    "GET", target.url, headers={"Host": target.host_header}, extensions=extensions
                )
                response = await http.send(request, stream=True)
                try:
                    if response.is_redirect and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
                        continue
                    if response.status_code >= 400:
                        raise ValidationFailed.field(
                            "media.url", f"the URL answered HTTP {response.status_code}"
                        )
                    declared = response.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > limit and not truncate:
                        raise too_large(limit)
                    data = await read_limited(response.aiter_bytes(), limit, truncate)
                    content_type = response.headers.get("content-type")
                    return data, content_type.split(";")[0].strip() if content_type else None
                finally:
                    await response.aclose()
            raise ValidationFailed.field("media.url", "too many redirects")
    except TimeoutError as exc:
        raise ValidationFailed.field("media.url", "the download timed out") from exc
    except httpx.HTTPError as exc:
        raise ValidationFailed.field("media.url", f"the download failed: {exc}") from exc
    finally:
        if own:
            await http.aclose()


# --- what the bytes are --------------------------------------------------------------------


def sniff(data: bytes) -> str | None:
    kind = filetype.guess(data[:8192])
    return str(kind.mime) if kind is not None else None


def _accepted(kind: str, mimetype: str) -> bool:
    return any(mimetype.startswith(prefix) for prefix in ACCEPTED[kind])


# A JPEG is decoded at 1/2, 1/4 or 1/8 of its size when only a thumbnail is wanted (Pillow's
# draft mode, which the engine's thumbnail uses too), so a phone photo of 50 or 85 megapixels
# costs what one of a few megapixels does; up to Pillow's own bomb threshold it may pass.
JPEG_MAX_PIXELS = 89_478_485  # PIL.Image.MAX_IMAGE_PIXELS, as a constant: no Pillow import here


def check_pixels(image: Any, max_pixels: int, field: str, frames: int = 1) -> None:
    """Refuse (422) an opened, not yet decoded image whose header says it is too big."""
    width, height = image.size
    if width * height * frames > max_pixels:
        shape = f"{width}x{height}" + (f" x {frames} frames" if frames > 1 else "")
        raise ValidationFailed.field(
            field, f"the image is too large to decode ({shape}; at most {max_pixels} pixels)"
        )


def _check_image(data: bytes, kind: str, max_pixels: int, field: str) -> None:
    """Read only the header of an image the engine will decode (its thumbnail of an image,
    every frame of a webp sticker) and refuse one too big for that."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            animated_webp = kind == "sticker" and image.format == "WEBP"
            frames = int(getattr(image, "n_frames", 1)) if animated_webp else 1
            if kind == "image" and image.format == "JPEG":
                max_pixels = max(max_pixels, JPEG_MAX_PIXELS)
            check_pixels(image, max_pixels, field, frames)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ValidationFailed.field(field, f"the image is too large to decode: {exc}") from exc
    except ApiError:
        raise
    except Exception as exc:  # Pillow raises many kinds for a broken header
        raise ValidationFailed.field(field, f"the image cannot be read: {exc}") from exc


def _to_webp_sticker(data: bytes, max_pixels: int, field: str) -> bytes:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        check_pixels(image, max_pixels, field)  # before `convert` decodes it
        image.draft("RGB", (STICKER_SIDE, STICKER_SIDE))  # a JPEG: decoded at a reduced scale
        picture = image.convert("RGBA")
        picture.thumbnail((STICKER_SIDE, STICKER_SIDE))
        canvas = Image.new("RGBA", (STICKER_SIDE, STICKER_SIDE), (0, 0, 0, 0))
        canvas.paste(
            picture, ((STICKER_SIDE - picture.width) // 2, (STICKER_SIDE - picture.height) // 2)
        )
        out = io.BytesIO()
        canvas.save(out, format="WEBP")
        return out.getvalue()


async def finish(
    kind: str,
    data: bytes,
    declared: str | None,
    filename: str | None,
    field: str,
    *,
    max_pixels: int,
) -> OutgoingMedia:
    """Check the bytes against the kind (and a declared type); convert stickers to webp."""
    sniffed = sniff(data)
    if declared == "application/octet-stream" and kind != "document":
        declared = None  # says nothing: what uploads without a type are labelled
    if kind == "document":
        mimetype = sniffed or declared or "application/octet-stream"
        return OutgoingMedia(data, mimetype, filename)
    if sniffed is None:
        raise ValidationFailed.field(field, f"the bytes are not a recognised {kind} format")
    if not _accepted(kind, sniffed):
        raise ValidationFailed.field(field, f"a {sniffed} file cannot be sent as {kind}")
    if declared and declared.split("/")[0] != sniffed.split("/")[0] and kind != "audio":
        raise ValidationFailed.field(
            "media.mimetype", f"declared {declared} but the bytes are {sniffed}"
        )
    if kind in ("image", "sticker"):
        await asyncio.to_thread(_check_image, data, kind, max_pixels, field)
    if kind == "sticker" and sniffed != "image/webp":
        try:
            data = await asyncio.to_thread(_to_webp_sticker, data, max_pixels, field)
        except ApiError:
            raise
        except Exception as exc:  # Pillow raises many kinds for a broken image
            raise ValidationFailed.field(field, f"the image cannot be converted: {exc}") from exc
        sniffed = "image/webp"
    return OutgoingMedia(data, sniffed, filename)


async def load(
    kind: str, media: MediaIn, settings: Settings, filename: str | None, *, limit: int
) -> tuple[OutgoingMedia, int]:
    """The media of a send and how many bytes were read for it (at most `limit`)."""
    max_pixels = settings.max_image_pixels
    if media.base64 is not None:
        data = decode_base64(media.base64, limit)
        read = len(data)
        return await finish(
            kind, data, media.mimetype, filename, "media.base64", max_pixels=max_pixels
        ), read
    assert media.url is not None
    data, content_type = await download(media.url, settings, limit=limit)
    if not data:
        raise ValidationFailed.field("media.url", "the URL gave an empty body")
    declared = media.mimetype
    if kind == "document" and declared is None:
        declared = content_type
    if filename is None and kind == "document":
        filename = urlsplit(media.url).path.rsplit("/", 1)[-1] or None
    read = len(data)
    return await finish(kind, data, declared, filename, "media.url", max_pixels=max_pixels), read
