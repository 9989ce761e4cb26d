"""The engine-host wire format and the device-store addressing (no subprocess, no neonize)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from wagate.config import Settings
from wagate.engines import base
from wagate.engines.whatsmeow import protocol
from wagate.engines.whatsmeow.store import device_store, postgres_dsn


async def _roundtrip(frame: dict[str, object]) -> dict[str, object] | None:
    reader = asyncio.StreamReader()
    reader.feed_data(protocol.encode(frame))
    reader.feed_eof()
    first = await protocol.read_frame(reader)
    assert await protocol.read_frame(reader) is None  # clean end of stream
    return first


async def test_frames_carry_bytes_and_datetimes() -> None:
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    frame = {"id": 7, "params": {"blob": b"\x00\xffmedia", "at": when, "list": [b"a", 1]}}
    assert await _roundtrip(frame) == frame


async def test_truncated_frame_is_a_protocol_error() -> None:
    reader = asyncio.StreamReader()
    reader.feed_data(protocol.encode({"id": 1})[:-2])
    reader.feed_eof()
    with pytest.raises(protocol.ProtocolError):
        await protocol.read_frame(reader)


@pytest.mark.parametrize(
    "event",
    [
        base.QrCode("2@abc", datetime(2026, 1, 1, tzinfo=UTC)),
        base.Connected("5511@s.whatsapp.net", "5511"),
        base.Connected("5511@s.whatsapp.net", "5511", "5511:7@s.whatsapp.net"),
        base.ConnectionLost("dial failed"),
        base.ConnectFailed("banned", permanent=True),
        base.LoggedOut("main_device_gone"),
        base.StreamReplaced(),
        base.QrTimeout(),
        base.InboundMessage(
            message_id="M1",
            chat="1@s.whatsapp.net",
            sender="1@s.whatsapp.net",
            from_me=False,
            timestamp=datetime(2026, 1, 1, tzinfo=UTC),
            kind="image",
            caption="hi",
            media=base.InboundMedia(b"\x89PNG", "image/png", "a.png"),
            reply_to="M0",
        ),
        base.Receipt(("A", "B"), "1@s.whatsapp.net", "read", datetime(2026, 1, 1, tzinfo=UTC)),
        base.IncomingCall("C1", "1:2@s.whatsapp.net"),
        base.IncomingCall(
            "C2", "1:2@s.whatsapp.net", "missed", True, datetime(2026, 1, 1, tzinfo=UTC)
        ),
        base.PresenceUpdate(
            "1@s.whatsapp.net",
            "1@s.whatsapp.net",
            "unavailable",
            datetime(2026, 1, 1, tzinfo=UTC),
            datetime(2025, 12, 31, tzinfo=UTC),
        ),
        base.ContactUpdate(
            "1@s.whatsapp.net",
            {"push_name": "Ana", "picture": "set"},
            datetime(2026, 1, 1, tzinfo=UTC),
        ),
        base.BlocklistUpdate("1@s.whatsapp.net", "block", datetime(2026, 1, 1, tzinfo=UTC)),
    ],
)
async def test_every_event_survives_the_wire(event: base.EngineEvent) -> None:
    frame = await _roundtrip({"event": protocol.event_to_wire(event)})
    assert frame is not None
    assert protocol.event_from_wire(frame["event"]) == event  # type: ignore[arg-type]


def test_errors_keep_their_kind() -> None:
    cases: list[base.EngineFailure] = [
        base.PermanentEngineError("nope", code="not_on_whatsapp"),
        base.NotConnectedError("closed"),
        base.NotPairingError("not now"),
        base.TransientEngineError("later"),
    ]
    for error in cases:
        back = protocol.error_from_wire(protocol.error_to_wire(error))
        assert type(back) is type(error) and str(back) == str(error)
        assert back.code == error.code
    unknown = protocol.error_from_wire(protocol.error_to_wire(RuntimeError("boom")))
    assert isinstance(unknown, base.TransientEngineError) and "boom" in str(unknown)


def test_outgoing_message_roundtrip() -> None:
    message = base.OutgoingMessage(
        kind="document",
        to_jid="5511@s.whatsapp.net",
        body={"filename": "r.pdf", "caption": "c"},
        correlation_id="cor",
        media=base.OutgoingMedia(b"%PDF-1.4", "application/pdf", "r.pdf"),
        reply_to="X",
        mentions=("5511",),
    )
    wire = protocol.decode(protocol.encode(protocol.outgoing_to_wire(message))[4:])
    assert protocol.outgoing_from_wire(wire) == message


def test_postgres_dsn_for_lib_pq() -> None:
    dsn = postgres_dsn("postgresql+asyncpg://wa:s%40cret@db:5433/wagate")
    assert dsn == "postgres://wa:s%40cret@db:5433/wagate?sslmode=disable&connect_timeout=10"
    kept = postgres_dsn("postgresql+asyncpg://u@h/d?sslmode=verify-full&prepared_statement=x")
    assert kept == "postgres://u@h/d?sslmode=verify-full&connect_timeout=10"
    asyncpg_ssl = postgres_dsn("postgresql+asyncpg://u@h/d?ssl=true")
    assert "sslmode=require" in asyncpg_ssl


def test_device_store_per_mode(tmp_path: Path) -> None:
    ref = base.InstanceRef(42, "x")
    sqlite = Settings(_env_file=None, data_dir=tmp_path)  # type: ignore[call-arg]
    store = device_store(sqlite, ref)
    assert store.dsn == str((tmp_path / "whatsmeow" / "42.sqlite3").resolve())
    assert not store.shared and (tmp_path / "whatsmeow").is_dir()
    pg = Settings(_env_file=None, database_url="postgresql+asyncpg://p@h/db")  # type: ignore[call-arg]
    shared = device_store(pg, ref)
    assert shared.shared and shared.dsn.startswith("postgres://p@h/db?")
