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
