"""The engine-host wire protocol, shared by the gateway and the host process.

Frames are a 4-byte big-endian length followed by one JSON object. Bytes travel as
`{"$b": "<base64>"}`, datetimes as `{"$t": "<iso>"}`. Three frame shapes:
- request  `{"id": n, "method": str, "params": {...}}`            gateway -> host
- response `{"id": n, "ok": true, "result": ...}` or `{"id": n, "ok": false, "error": {...}}`
- event    `{"event": {"type": ..., ...}, "instance": id, "token": str}`   host -> gateway
           and `{"hello": {...}}` once the host is ready.
Media above `handover.INLINE_MAX` does not travel in frames: its dict carries
`{"file": <path>, "size": n}` instead of `data` (handover.py).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import struct
from datetime import datetime
from typing import Any

import orjson

from wagate.engines import base
from wagate.engines.actions import SEND

HEADER = struct.Struct(">I")
# Large media goes through hand-over files; frames carry text, small media and thumbnails.
MAX_FRAME = 32 * 1024 * 1024


class ProtocolError(Exception):
    pass


def _default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$b": base64.b64encode(bytes(value)).decode("ascii")}
    raise TypeError(f"cannot encode {type(value).__name__}")


def _prepare(value: Any) -> Any:
    # orjson serialises datetimes itself; they must come back as datetimes, so tag them.
    if isinstance(value, datetime):
        return {"$t": value.isoformat()}
    if isinstance(value, dict):
        return {key: _prepare(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_prepare(item) for item in value]
    return value


def _restore(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1:
            if "$b" in value:
                return base64.b64decode(value["$b"])
            if "$t" in value:
                return datetime.fromisoformat(value["$t"])
        return {key: _restore(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_restore(item) for item in value]
    return value


def encode(message: dict[str, Any]) -> bytes:
    body = orjson.dumps(_prepare(message), default=_default)
    return HEADER.pack(len(body)) + body


def decode(body: bytes) -> dict[str, Any]:
    value = _restore(orjson.loads(body))
    if not isinstance(value, dict):
        raise ProtocolError("a frame must be a JSON object")
    return value


async def read_frame(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """The next frame, or None at a clean end of stream."""
    try:
        header = await reader.readexactly(HEADER.size)
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise ProtocolError("truncated frame header") from exc
        return None
    (size,) = HEADER.unpack(header)
    if size > MAX_FRAME:
        raise ProtocolError(f"frame of {size} bytes is too large")
    try:
        body = await reader.readexactly(size)
    except asyncio.IncompleteReadError as exc:
        raise ProtocolError("truncated frame") from exc
    return decode(body)


# --- engine events and errors as frames ------------------------------------------------------

EVENT_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        base.QrCode,
        base.Connected,
        base.ConnectionLost,
        base.ConnectFailed,
        base.LoggedOut,
        base.StreamReplaced,
        base.QrTimeout,
        base.InboundMessage,
        base.Receipt,
        base.IncomingCall,
        base.MessageEdited,
        base.MessageRevoked,
        base.PollVote,
        base.GroupUpdate,
        base.GroupParticipantsUpdate,
        base.PresenceUpdate,
        base.ContactUpdate,
        base.BlocklistUpdate,
        base.HistoryBatch,
    )
}


def event_to_wire(event: base.EngineEvent) -> dict[str, Any]:
    data: dict[str, Any] = {"type": type(event).__name__}
    if isinstance(event, base.HistoryBatch):
        return data | dataclasses.asdict(event)  # its messages carry no media bytes
    for item in dataclasses.fields(event):
        value = getattr(event, item.name)
        if isinstance(value, base.InboundMedia):
            value = dataclasses.asdict(value)
        data[item.name] = value
    return data


def event_from_wire(data: dict[str, Any]) -> base.EngineEvent:
    values = dict(data)
    cls = EVENT_TYPES.get(values.pop("type", ""))
    if cls is None:
        raise ProtocolError(f"unknown event type {data.get('type')!r}")
    if cls is base.InboundMessage and values.get("media") is not None:
        values["media"] = base.InboundMedia(**values["media"])
    if cls is base.Receipt:
        values["message_ids"] = tuple(values["message_ids"])
    if cls is base.InboundMessage:
        values["mentions"] = tuple(values.get("mentions") or ())
    if cls is base.HistoryBatch:
        values["chats"] = tuple(_history_chat(chat) for chat in values["chats"])
    event: base.EngineEvent = cls(**values)
    return event


def _inbound(values: dict[str, Any]) -> base.InboundMessage:
    pending = values.get("pending_media")
    return base.InboundMessage(
        **(
            values
            | {
                "mentions": tuple(values.get("mentions") or ()),
                "pending_media": None if pending is None else base.PendingMedia(**pending),
            }
        )
    )


def _history_chat(data: dict[str, Any]) -> base.HistoryChat:
    messages = tuple(_inbound(message) for message in data["messages"])
    return base.HistoryChat(**(data | {"messages": messages}))


ERROR_KINDS: dict[str, type[base.EngineFailure]] = {
    "transient": base.TransientEngineError,
    "not_connected": base.NotConnectedError,
    "not_pairing": base.NotPairingError,
}


def error_to_wire(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, base.PermanentEngineError):
        return {"kind": "permanent", "message": str(exc), "code": exc.code}
    if isinstance(exc, base.NotConnectedError):
        return {"kind": "not_connected", "message": str(exc)}
    if isinstance(exc, base.NotPairingError):
        return {"kind": "not_pairing", "message": str(exc)}
    if isinstance(exc, base.EngineFailure):
        return {"kind": "transient", "message": str(exc)}
    return {"kind": "transient", "message": f"{type(exc).__name__}: {exc}"}


def error_from_wire(data: dict[str, Any]) -> base.EngineFailure:
    message = str(data.get("message", "engine host error"))
    if data.get("kind") == "permanent":
        return base.PermanentEngineError(message, code=str(data.get("code", "engine_error")))
    return ERROR_KINDS.get(str(data.get("kind")), base.TransientEngineError)(message)


def outgoing_to_wire(message: base.OutgoingMessage) -> dict[str, Any]:
    wire: dict[str, Any] = SEND.dump_request(message)
    return wire


def outgoing_from_wire(data: dict[str, Any]) -> base.OutgoingMessage:
    return SEND.load_request(data)
