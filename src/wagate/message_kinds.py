"""The message kinds, declared once: the API's send routes, the stored messages, the engines'
builders and the dashboard all read them from here.

What every layer needs of a kind is declared in `TRAITS` (core: no model, no engine). The
request model, the validation and the media conversion of a kind are the messages feature's
(`wagate.messages.kinds.SPECS`), each engine has one builder per kind in a table keyed by
`Kind`; tests/unit/test_message_kinds.py fails when any of them lacks a kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    # The order is the API's: the routes, the OpenAPI operations and the batch items follow it.
    TEXT = "text"
    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    DOCUMENT = "document"
    STICKER = "sticker"
    LOCATION = "location"
    CONTACT = "contact"
    REACTION = "reaction"
    POLL = "poll"


ANY_TYPE: tuple[str, ...] = ("",)  # every sniffed type starts with ""


@dataclass(frozen=True, slots=True)
class KindTraits:
    # Sniffed media types the kind accepts, as prefixes (`video/` takes every video); None for
    # a kind that carries no media.
    media: tuple[str, ...] | None = None
    # The send may be shown once and then disappear on the recipient's phone (WhatsApp's
    # view-once, for photos, videos and voice messages only).
    view_once: bool = False


TRAITS: dict[Kind, KindTraits] = {
    Kind.TEXT: KindTraits(),
    Kind.IMAGE: KindTraits(
        media=("image/jpeg", "image/png", "image/webp", "image/gif"), view_once=True
    ),
    Kind.VIDEO: KindTraits(media=("video/",), view_once=True),
    Kind.AUDIO: KindTraits(media=("audio/", "application/ogg", "video/mp4"), view_once=True),
    Kind.DOCUMENT: KindTraits(media=ANY_TYPE),
    Kind.STICKER: KindTraits(media=("image/webp", "image/png", "image/jpeg")),
    Kind.LOCATION: KindTraits(),
    Kind.CONTACT: KindTraits(),
    Kind.REACTION: KindTraits(),
    Kind.POLL: KindTraits(),
}
if set(TRAITS) != set(Kind):  # pragma: no cover - a kind added without its traits
    raise RuntimeError(f"message kinds without traits: {sorted(set(Kind) - set(TRAITS))}")

KINDS: tuple[str, ...] = tuple(kind.value for kind in Kind)
MEDIA_KINDS: frozenset[str] = frozenset(k.value for k, t in TRAITS.items() if t.media is not None)
VIEW_ONCE_KINDS: frozenset[str] = frozenset(k.value for k, t in TRAITS.items() if t.view_once)


def accepts(kind: str, mimetype: str) -> bool:
    """Whether a media kind takes bytes sniffed as this type."""
    media = TRAITS[Kind(kind)].media
    return media is not None and mimetype.startswith(media)
