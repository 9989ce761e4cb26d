"""Checks on an image before it is decoded: the pixel count its header declares.

In core so that the messages feature (stickers, thumbnails) and an engine's link preview refuse
a decompression bomb the same way.
"""

from __future__ import annotations

from typing import Any

from wagate.errors import ValidationFailed

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


STICKER_SIDE = 512


def to_webp_sticker(data: bytes, sniffed: str, max_pixels: int, field: str) -> tuple[bytes, str]:
    """A sticker as WhatsApp shows it: webp, at most 512x512, centred on a transparent square
    (a webp is sent as it is). Blocking: run it in a thread."""
    if sniffed == "image/webp":
        return data, sniffed
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            check_pixels(image, max_pixels, field)  # before `convert` decodes it
            image.draft("RGB", (STICKER_SIDE, STICKER_SIDE))  # a JPEG: decoded at a reduced scale
            picture = image.convert("RGBA")
            picture.thumbnail((STICKER_SIDE, STICKER_SIDE))
            canvas = Image.new("RGBA", (STICKER_SIDE, STICKER_SIDE), (0, 0, 0, 0))
            offset = ((STICKER_SIDE - picture.width) // 2, (STICKER_SIDE - picture.height) // 2)
            canvas.paste(picture, offset)
            out = io.BytesIO()
            canvas.save(out, format="WEBP")
            return out.getvalue(), "image/webp"
    except ValidationFailed:
        raise
    except Exception as exc:  # Pillow raises many kinds for a broken image
        raise ValidationFailed.field(field, f"the image cannot be converted: {exc}") from exc


PICTURE_SIDE = 640


def to_jpeg_picture(data: bytes, max_pixels: int, field: str) -> bytes:
    """A profile or group picture as WhatsApp keeps one: a JPEG square (the middle of the
    image), at most 640x640. Blocking: run it in a thread."""
    import io

    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            check_pixels(image, max_pixels, field)  # before `convert` decodes it
            image.draft("RGB", (PICTURE_SIDE, PICTURE_SIDE))  # a JPEG: decoded at a reduced scale
            picture = image.convert("RGB")
            side = min(picture.size)
            left, top = (picture.width - side) // 2, (picture.height - side) // 2
            square = picture.crop((left, top, left + side, top + side))
            square.thumbnail((PICTURE_SIDE, PICTURE_SIDE))
            out = io.BytesIO()
            square.save(out, format="JPEG", quality=85)
            return out.getvalue()
    except ValidationFailed:
        raise
    except Exception as exc:  # Pillow raises many kinds for a broken image
        raise ValidationFailed.field(field, f"the image cannot be converted: {exc}") from exc
