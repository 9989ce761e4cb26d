"""Large media to a real engine-host subprocess through hand-over files: what the host reads
is what the gateway wrote, small media still goes inline, the file is gone after the call
whether it succeeded, failed or the host was killed, and the host refuses other paths."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from wagate.engines.actions import SEND
from wagate.engines.base import (
    NotConnectedError,
    OutgoingMedia,
    OutgoingMessage,
    PermanentEngineError,
    TransientEngineError,
)
from wagate.engines.whatsmeow import handover
from wagate.engines.whatsmeow.engine import WhatsmeowClient
from wagate.engines.whatsmeow.supervisor import EngineHost

pytestmark = pytest.mark.e2e

BIG = 8 * 1024 * 1024


def document(data: bytes) -> OutgoingMessage:
    media = OutgoingMedia(data, "application/pdf", "big.pdf")
    return OutgoingMessage("document", "5511987654321@s.whatsapp.net", {}, "c1", media)


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


async def test_host_reads_what_the_gateway_handed_over(
    started: tuple[WhatsmeowClient, EngineHost],
) -> None:
    _, host = started
    assert host.handover_dir is not None
    for size in (100, BIG):  # inline, then through a file
        data = os.urandom(size)
        media: dict[str, Any] = {"data": data, "mimetype": "video/mp4", "filename": None}
        async with handover.media_out(host.handover_dir, media) as wire:
            assert wire is not None
            assert ("file" in wire) == (size > handover.INLINE_MAX)
            answer = await host.request("ping", {"media": wire}, 20)
        assert answer["size"] == size
        assert answer["sha256"] == hashlib.sha256(data).hexdigest()
        assert files_in(host.handover_dir) == []  # deleted after the successful call


async def test_file_deleted_after_a_failed_send(
    started: tuple[WhatsmeowClient, EngineHost],
) -> None:
    client, host = started
    assert host.handover_dir is not None
    with pytest.raises(NotConnectedError):  # the host loaded the media, then refused: unlinked
        await client.call(SEND, document(os.urandom(BIG)))
    assert files_in(host.handover_dir) == []


async def test_file_deleted_when_the_host_is_killed_mid_call(
    started: tuple[WhatsmeowClient, EngineHost],
) -> None:
    client, host = started
    assert host.handover_dir is not None and host.pid is not None
    os.kill(host.pid, signal.SIGSTOP)  # the host takes the request but never answers
    sending = asyncio.create_task(client.call(SEND, document(os.urandom(BIG))))
    # The file is created before its bytes are written and the request is sent: wait for the
    # request itself, or the kill lands first and the call is refused as not connected.
    for _ in range(500):
        if files_in(host.handover_dir) and host._pending:
            break
        await asyncio.sleep(0.02)
    assert len(files_in(host.handover_dir)) == 1  # the media is waiting for the host
    assert len(host._pending) == 1  # and the request is in flight
    os.kill(host.pid, signal.SIGKILL)
    with pytest.raises(TransientEngineError, match="died"):
        await asyncio.wait_for(sending, 10)
    assert files_in(host.handover_dir) == []


async def test_host_refuses_paths_outside_its_directory(
    started: tuple[WhatsmeowClient, EngineHost], tmp_path: Path
) -> None:
    _, host = started
    assert host.handover_dir is not None
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"not for the host")
    (host.handover_dir / "link").symlink_to(secret)
    for name in (
        str(secret),
        f"{host.handover_dir}/../../../secret.bin",
        str(host.handover_dir / "link"),
    ):
        media = {"file": name, "size": 16, "mimetype": "application/pdf", "filename": None}
        with pytest.raises(PermanentEngineError, match="media file"):
            await host.request("ping", {"media": media}, 10)
    assert secret.read_bytes() == b"not for the host"
    assert (await host.request("ping", {}, 5))["pid"] == host.pid  # and it lives on
