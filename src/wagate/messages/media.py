"""Media of a send: read it (URL, base64 or upload) within the size limit, then check what it is.

URLs are fetched by wagate/fetch.py through the address guard (wagate/netguard.py): every
address the host resolves to must be public unless WAGATE_ALLOW_PRIVATE_MEDIA_URLS is set, the
connection goes to the address that was checked (no second DNS answer can swap it), and each
redirect is checked again.
"""

from __future__ import annotations

import asyncio
import binascii
import io
from urllib.parse import urlsplit

import filetype

from wagate.config import Settings
from wagate.engines.base import OutgoingMedia
from wagate.errors import ApiError, ValidationFailed
from wagate.fetch import download
from wagate.fetch import too_large as too_large  # re-exported: the send routes use it
from wagate.images import JPEG_MAX_PIXELS, check_pixels
from wagate.message_kinds import ANY_TYPE, TRAITS, Kind
from wagate.messages.schemas import SPECS, MediaIn

# Which sniffed types each media kind accepts, as prefixes (a document takes anything).
ACCEPTED = {
    kind.value: traits.media
    for kind, traits in TRAITS.items()
    if traits.media is not None and traits.media != ANY_TYPE
}


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


# --- what the bytes are --------------------------------------------------------------------


def sniff(data: bytes) -> str | None:
    kind = filetype.guess(data[:8192])
    return str(kind.mime) if kind is not None else None


def _accepted(kind: str, mimetype: str) -> bool:
    return mimetype.startswith(ACCEPTED[kind])


def _any_type(kind: str) -> bool:
    """A kind that takes any file (a document): it keeps the declared type and a file name."""
    return TRAITS[Kind(kind)].media == ANY_TYPE


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


async def finish(
    kind: str,
    data: bytes,
    declared: str | None,
    filename: str | None,
    field: str,
    *,
    max_pixels: int,
) -> OutgoingMedia:
    """Check the bytes against the kind (and a declared type), then the kind's conversion."""
    found = sniff(data)
    if _any_type(kind):
        return OutgoingMedia(data, found or declared or "application/octet-stream", filename)
    if declared == "application/octet-stream":
        declared = None  # says nothing: what uploads without a type are labelled
    if found is None:
        raise ValidationFailed.field(field, f"the bytes are not a recognised {kind} format")
    sniffed: str = found
    if not _accepted(kind, sniffed):
        raise ValidationFailed.field(field, f"a {sniffed} file cannot be sent as {kind}")
    spec = SPECS[Kind(kind)]
    family_differs = declared and declared.split("/")[0] != sniffed.split("/")[0]
    if family_differs and spec.declared_family_checked:
        raise ValidationFailed.field(
            "media.mimetype", f"declared {declared} but the bytes are {sniffed}"
        )
    if spec.check_pixels:
        await asyncio.to_thread(_check_image, data, kind, max_pixels, field)
    if spec.convert is not None:
        data, sniffed = await asyncio.to_thread(spec.convert, data, sniffed, max_pixels, field)
    return OutgoingMedia(data, sniffed, filename)


async def load(
    kind: str,
    media: MediaIn,
    settings: Settings,
    filename: str | None,
    *,
    limit: int,
    proxy: str | None = None,
) -> tuple[OutgoingMedia, int]:
    """The media of a send and how many bytes were read for it (at most `limit`), a URL
    fetched through the instance's `proxy` when it has one."""
    max_pixels = settings.max_image_pixels
    if media.base64 is not None:
        data = decode_base64(media.base64, limit)
        read = len(data)
        return await finish(
            kind, data, media.mimetype, filename, "media.base64", max_pixels=max_pixels
        ), read
    assert media.url is not None
    data, content_type = await download(media.url, settings, limit=limit, proxy=proxy)
    if not data:
        raise ValidationFailed.field("media.url", "the URL gave an empty body")
    declared = media.mimetype
    if _any_type(kind) and declared is None:
        declared = content_type
    if filename is None and _any_type(kind):
        filename = urlsplit(media.url).path.rsplit("/", 1)[-1] or None
    read = len(data)
    return await finish(kind, data, declared, filename, "media.url", max_pixels=max_pixels), read
