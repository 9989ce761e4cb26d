"""The hand-over directory of large media between the gateway and engine hosts (no subprocess):
its modes, the cleanup of what dead processes left, what the reader refuses, and the
gateway's side of inbound media."""

from __future__ import annotations

import fcntl
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_settings
from wagate.engines.whatsmeow import handover
from wagate.engines.whatsmeow.handover import Handover, HandoverRefused
from wagate.engines.whatsmeow.supervisor import EngineHost

BIG = handover.INLINE_MAX + 1


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_directories_are_private_and_dead_processes_leftovers_go(tmp_path: Path) -> None:
    root = tmp_path / handover.DIR_NAME
    root.mkdir(mode=0o755)
    # A gateway process that died: its lock is not held any more, its files are still there.
    (root / "gw-dead.lock").touch()
    (root / "gw-dead" / "host-0").mkdir(parents=True)
    (root / "gw-dead" / "host-0" / "out-x").write_bytes(b"old media")
    # One that died while removing another's leftovers: a directory without its lock.
    (root / "gw-orphan").mkdir()
    # One that is alive: it holds its lock.
    (root / "gw-live").mkdir()
    live_lock = os.open(root / "gw-live.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(live_lock, fcntl.LOCK_EX)
    try:
        mine = Handover(tmp_path)
        path = mine.ensure()
        assert not (root / "gw-dead").exists() and not (root / "gw-dead.lock").exists()
        assert not (root / "gw-orphan").exists()
        assert (root / "gw-live").is_dir() and (root / "gw-live.lock").exists()
        assert mode(root) == 0o700 and mode(path) == 0o700
        host_dir = mine.host_dir(0)
        assert mode(host_dir) == 0o700 and host_dir.parent == path
        (host_dir / "in-left").write_bytes(b"x")
        assert list(mine.host_dir(0).iterdir()) == []  # a restarted host starts empty

        # A second gateway process on the same data dir leaves this live one alone.
        other = Handover(tmp_path)
        assert other.ensure() != path and path.is_dir()
        other.close()
        mine.close()
        assert not path.exists() and not path.with_name(path.name + ".lock").exists()
    finally:
        os.close(live_lock)


def test_reader_takes_only_regular_files_right_in_its_directory(tmp_path: Path) -> None:
    folder = handover.private_dir(tmp_path / "host-0")
    good = folder / "out-good"
    good.write_bytes(b"media")
    assert handover.read(folder, str(good), 100) == b"media"

    outside = tmp_path / "secret"
    outside.write_bytes(b"not yours")
    refused = [
        str(outside),  # another directory
        f"{folder}/../secret",  # climbing out
        "out-good",  # relative
        str(folder / "sub" / "x"),  # deeper
    ]
    (folder / "link").symlink_to(outside)
    refused.append(str(folder / "link"))  # a symlink, even inside
    (folder / "adir").mkdir()
    refused.append(str(folder / "adir"))  # not a regular file
    os.mkfifo(folder / "fifo")
    refused.append(str(folder / "fifo"))  # nor a FIFO (which must not hang the reader)
    for name in refused:
        with pytest.raises(HandoverRefused):
            handover.read(folder, name, 100)
    with pytest.raises(HandoverRefused, match="larger"):
        handover.read(folder, str(good), 3)
    # take() removes what it read, and never a file outside its directory.
    assert handover.take(folder, str(good), 100) == b"media" and not good.exists()
    with pytest.raises(HandoverRefused):
        handover.take(folder, str(outside), 100)
    assert outside.read_bytes() == b"not yours"


async def test_media_out_inline_when_small_and_removed_however_the_block_ends(
    tmp_path: Path,
) -> None:
    folder = handover.private_dir(tmp_path / "host-0")
    small = {"data": b"x" * 10, "mimetype": "image/png", "filename": None}
    async with handover.media_out(folder, small) as wire:
        assert wire is small
    big = {"data": os.urandom(BIG), "mimetype": "video/mp4", "filename": "v.mp4"}
    async with handover.media_out(folder, big) as wire:
        assert wire is not None and "data" not in wire and wire["size"] == BIG
        file = Path(wire["file"])
        assert file.parent == folder and mode(file) == 0o600
        assert file.read_bytes() == big["data"] and wire["mimetype"] == "video/mp4"
    assert not file.exists()
    with pytest.raises(RuntimeError, match="the call failed"):
        async with handover.media_out(folder, big) as wire:
            assert wire is not None
            file = Path(wire["file"])
            raise RuntimeError("the call failed")
    assert not file.exists() and list(folder.iterdir()) == []


async def test_gateway_takes_inbound_media_files_and_drops_refused_ones(tmp_path: Path) -> None:
    settings = make_settings(f"sqlite+aiosqlite:///{tmp_path}/x.db", tmp_path)
    folder = handover.private_dir(tmp_path / "host-0")
    host = EngineHost(0, settings, lambda *a: None, lambda *a: None, handover_dir=folder)

    data = os.urandom(BIG)
    media: dict[str, Any] = {"data": data, "mimetype": "image/jpeg", "filename": None}
    await handover.media_to_file(media, folder)  # what the host does before the frame
    event = {"type": "InboundMessage", "media": media}
    assert "data" not in media and Path(media["file"]).exists()
    await host._take_media(event)
    assert event["media"] == {"data": data, "mimetype": "image/jpeg", "filename": None}
    assert list(folder.iterdir()) == []

    outside = tmp_path / "elsewhere"
    outside.write_bytes(b"keep")
    forged = {"type": "InboundMessage", "media": {"file": str(outside), "mimetype": "x"}}
    await host._take_media(forged)
    assert forged["media"] is None and outside.read_bytes() == b"keep"
