"""A group picture is made the JPEG square WhatsApp keeps, whatever image it was given."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from wagate.errors import ValidationFailed
from wagate.images import PICTURE_SIDE, to_jpeg_picture

MAX_PIXELS = 50_000_000


def image(width: int, height: int, kind: str = "PNG") -> bytes:
    out = io.BytesIO()
    mode = "RGBA" if kind == "PNG" else "RGB"
    Image.new(mode, (width, height), (200, 30, 30, 255)[: len(mode)]).save(out, format=kind)
    return out.getvalue()


@pytest.mark.parametrize(
    ("size", "side", "kind"),
    [((1000, 500), 500, "PNG"), ((2000, 3000), PICTURE_SIDE, "JPEG"), ((64, 64), 64, "WEBP")],
)
def test_the_middle_square_at_most_640(size: tuple[int, int], side: int, kind: str) -> None:
    converted = to_jpeg_picture(image(*size, kind=kind), MAX_PIXELS, "picture")
    with Image.open(io.BytesIO(converted)) as picture:
        assert picture.format == "JPEG" and picture.size == (side, side)


def test_not_an_image_or_too_large_is_422_naming_the_field() -> None:
    with pytest.raises(ValidationFailed) as failure:
        to_jpeg_picture(b"not an image", MAX_PIXELS, "picture")
    assert failure.value.details["fields"][0]["field"] == "picture"
    with pytest.raises(ValidationFailed):
        to_jpeg_picture(image(300, 300), 1000, "picture")
