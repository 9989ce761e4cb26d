"""A send request -> a validated, normalised send (recipient JID, body, media bytes)."""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from wagate.config import Settings
from wagate.engines.base import OutgoingMedia
from wagate.errors import ValidationFailed, validation_details
from wagate.messages import media as media_io
from wagate.messages.contacts import phone_field
from wagate.messages.contacts import vcard as vcard  # re-exported: tests build cards with it
from wagate.messages.schemas import KINDS, MEDIA_KINDS, SPECS, MediaBase, SendBase
from wagate.phones import InvalidRecipient, is_group_jid, to_jid

# Fields that are not the kind's content: kept beside it in the stored body.
ENVELOPE = {"to", "media", "reply_to", "mentions"}
# Flags added to a kind after its first release: kept (and hashed) only when set, so that the
# stored body and the idempotency hash of a send that does not use one stay what they were.
LATER_FLAGS = ("view_once", "mention_everyone")


# By the kind's name as the routes give it: Kind(name) is an enum lookup on every send.
_SPECS = {kind.value: spec for kind, spec in SPECS.items()}


def _unset_flags(model: SendBase) -> set[str]:
    return {flag for flag in _flags_of(type(model)) if getattr(model, flag) is False}


@functools.cache
def _flags_of(model: type[SendBase]) -> tuple[str, ...]:
    # Asked of the class once: a model without the field would answer getattr through
    # pydantic's __getattr__ and a caught AttributeError, on every send.
    return tuple(flag for flag in LATER_FLAGS if flag in model.model_fields)


@dataclass(slots=True)
class Upload:
    """A multipart part `file`."""

    data: bytes
    mimetype: str | None
    filename: str | None


@dataclass(slots=True)
class Checked:
    """The body is valid and the recipients are normalised; media not loaded yet."""

    kind: str
    model: SendBase
    to: str
    to_jid: str
    body: dict[str, Any]
    upload: Upload | None
    _hash: str | None = None

    @property
    def request_hash(self) -> str:
        """What an Idempotency-Key is bound to; computed only for a send that has one (a
        model dump, a JSON encoding and a SHA-256 that most sends never need)."""
        if self._hash is None:
            self._hash = _request_hash(self.kind, self.model, self.to_jid, self.upload)
        return self._hash


@dataclass(slots=True)
class Prepared:
    kind: str
    to: str
    to_jid: str
    body: dict[str, Any]
    media: OutgoingMedia | None
    read: int = 0  # bytes of media read (uploaded, decoded or fetched) to make `media`


def _request_hash(kind: str, model: SendBase, to_jid: str, upload: Upload | None) -> str:
    # The same send written differently (+55 11 ... or 5511...) is the same request.
    content = {**model.model_dump(mode="json", exclude=_unset_flags(model)), "to": to_jid}
    digest = hashlib.sha256(kind.encode())
    digest.update(json.dumps(content, sort_keys=True).encode())
    if upload is not None:
        digest.update(hashlib.sha256(upload.data).digest())
    return digest.hexdigest()


def check(kind: str, payload: dict[str, Any], upload: Upload | None = None) -> Checked:
    """Validate a body; every problem answers 422 naming the field."""
    spec = _SPECS.get(kind)
    if spec is None:
        raise ValidationFailed.field("kind", f"unknown kind; one of {', '.join(KINDS)}")
    try:
        model = spec.model.model_validate(payload)
    except ValidationError as exc:
        raise ValidationFailed(
            "the request is not valid", details=validation_details(list(exc.errors()))
        ) from exc
    try:
        jid = to_jid(model.to)
    except InvalidRecipient as exc:
        raise ValidationFailed.field("to", str(exc)) from exc
    if model.mention_everyone and not is_group_jid(jid):
        raise ValidationFailed.field("mention_everyone", "only a send to a group mentions everyone")
    to = jid.split("@", 1)[0] if jid.endswith("@s.whatsapp.net") and "@" not in model.to else jid
    body = model.model_dump(exclude=ENVELOPE | _unset_flags(model), exclude_none=True)
    if model.reply_to:
        body["reply_to"] = model.reply_to
    if model.mentions:
        body["mentions"] = [
            f"{phone_field(m, f'mentions.{i}')}@s.whatsapp.net"
            for i, m in enumerate(model.mentions)
        ]
    if spec.keep is not None:
        spec.keep(model, body)
    _check_upload(kind, model, upload)
    return Checked(kind, model, to, jid, body, upload)


def _check_upload(kind: str, model: SendBase, upload: Upload | None) -> None:
    if kind in MEDIA_KINDS:
        assert isinstance(model, MediaBase)
        if upload is not None and model.media is not None:
            raise ValidationFailed.field("media", "give the media as a file part or a field")
        if upload is None and model.media is None:
            raise ValidationFailed.field("media", "media is required for this kind")
    elif upload is not None:
        raise ValidationFailed.field("file", f"kind {kind} takes no file")


async def load_media(
    checked: Checked, settings: Settings, limit: int | None = None, proxy: str | None = None
) -> Prepared:
    """Fetch or decode the media of a checked send (the slow part: after the cheap checks),
    reading at most `limit` bytes (default: the media limit), a URL through `proxy`."""
    limit = settings.max_media_bytes if limit is None else limit
    loaded: OutgoingMedia | None = None
    read = 0
    if checked.kind in MEDIA_KINDS:
        filename = checked.body.get("filename")
        if checked.upload is not None:
            upload = checked.upload
            if len(upload.data) > limit:
                raise media_io.too_large(limit)
            if not upload.data:
                raise ValidationFailed.field("file", "the file is empty")
            loaded = await media_io.finish(
                checked.kind,
                upload.data,
                upload.mimetype,
                filename or upload.filename,
                "file",
                max_pixels=settings.max_image_pixels,
            )
            read = len(upload.data)
        else:
            assert isinstance(checked.model, MediaBase) and checked.model.media is not None
            loaded, read = await media_io.load(
                checked.kind, checked.model.media, settings, filename, limit=limit, proxy=proxy
            )
    return Prepared(checked.kind, checked.to, checked.to_jid, checked.body, loaded, read)
