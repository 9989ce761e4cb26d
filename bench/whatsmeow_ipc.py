"""How long media takes to reach a real whatsmeow engine host, and what it costs in memory.

Starts a real engine-host subprocess (no WhatsApp: the instance's connect fails offline and
its session stays unlinked), then sends a document of each size through the real send path:
the gateway hands the bytes over, the host loads them and refuses the send at the "connected"
check, which is the step just before neonize. Prints the wall time of each call, the host's
peak RSS (VmHWM) and the gateway's peak RSS growth.

    .venv/bin/python -m bench.whatsmeow_ipc [MiB ...]      # default: 16 64
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from wagate.config import Settings
from wagate.engines.actions import SEND
from wagate.engines.base import (
    EngineEvent,
    InstanceRef,
    NotConnectedError,
    OutgoingMedia,
    OutgoingMessage,
)
from wagate.engines.whatsmeow.engine import WhatsmeowEngine

MIB = 1024 * 1024


def _vm_hwm_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _own_peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def offline_settings(folder: str, **overrides: Any) -> Settings:
    """Settings for an engine host with no database and no WhatsApp behind it."""
    return Settings(
        _env_file=None,
        data_dir=Path(folder),
        database_url=f"sqlite+aiosqlite:///{folder}/unused.db",
        log_level="error",
        **overrides,
    )


async def main(sizes: list[int]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        settings = offline_settings(folder, max_media_bytes=max(sizes) * MIB)
        engine = WhatsmeowEngine(settings, db=None)  # type: ignore[arg-type]
        events: list[EngineEvent] = []
        client = engine.create_client(InstanceRef(1, "bench"), events.append)
        await client.start()
        while not events:  # the offline connect fails: the session exists, unlinked
            await asyncio.sleep(0.05)
        host = engine.pool.host_of(1)
        assert host is not None and host.pid is not None
        try:
            blobs = {size: os.urandom(size * MIB) for size in sizes}
            baseline = _own_peak_mib()
            print(f"host pid {host.pid}, host VmHWM before: {_vm_hwm_mib(host.pid):.0f} MiB")
            for size in sizes:
                media = OutgoingMedia(blobs[size], "application/pdf", "big.pdf")
                message = OutgoingMessage(
                    "document", "5511987654321@s.whatsapp.net", {"filename": "big.pdf"}, "c", media
                )
                runs: list[float] = []
                for _ in range(3):
                    started = time.perf_counter()
                    # The host loads the media and stops before neonize: not linked.
                    with contextlib.suppress(NotConnectedError):
                        await client.call(SEND, message)
                    runs.append(time.perf_counter() - started)
                best, worst = min(runs), max(runs)
                print(
                    f"{size:>4} MiB: {best:.3f} s best, {worst:.3f} s worst of 3; "
                    f"host VmHWM {_vm_hwm_mib(host.pid):.0f} MiB; "
                    f"gateway peak RSS +{_own_peak_mib() - baseline:.0f} MiB"
                )
        finally:
            await client.stop()
            await engine.close()


def run(argv: list[str]) -> None:
    sizes = [int(a) for a in argv] or [16, 64]
    asyncio.run(main(sizes))


if __name__ == "__main__":
    run(sys.argv[1:])
