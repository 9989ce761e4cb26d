"""What a whatsmeow engine host costs per idle client: RSS, threads and open files.

Starts a real engine-host subprocess (no WhatsApp: every dial goes to the SOCKS5 proxy
socks5://127.0.0.1:1, which refuses at once, so each client is created in the host and stays
offline), creates N clients in it, waits until each reported its failed connect, lets the
host settle, and reads the host's VmRSS, thread count and open file descriptors from /proc.
The figures of 0 clients (the host started by the first client's creation, read before any
connect) are the baseline of the same run.

    .venv/bin/python -m bench.whatsmeow_host [N ...]      # default: 1 50 200
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

from bench.whatsmeow_ipc import offline_settings
from wagate.engines.base import EngineClient, EngineEvent, InstanceRef
from wagate.engines.whatsmeow.engine import WhatsmeowEngine

SETTLE_S = 3.0


def host_figures(pid: int) -> dict[str, float]:
    status = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        status[key] = value.strip()
    return {
        "RSS MiB": int(status["VmRSS"].split()[0]) / 1024,
        "threads": int(status["Threads"]),
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
    }


async def measure(count: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        settings = offline_settings(
            folder,
            whatsmeow_instances_per_host=max(count, 1),
            whatsmeow_proxy="socks5://127.0.0.1:1",
            whatsmeow_connect_attempts=1,
        )
        engine = WhatsmeowEngine(settings, db=None)  # type: ignore[arg-type]
        reported: set[int] = set()
        clients: list[EngineClient] = []
        try:
            for number in range(1, count + 1):

                def sink(event: EngineEvent, number: int = number) -> None:
                    reported.add(number)

                client = engine.create_client(InstanceRef(number, f"b{number}"), sink)
                clients.append(client)
                await client.start()
            deadline = time.monotonic() + 120
            while len(reported) < count and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            await asyncio.sleep(SETTLE_S)
            host = engine.pool.host_of(1)
            assert host is not None and host.pid is not None
            figures = host_figures(host.pid)
            figures["clients reported"] = len(reported)
            return figures
        finally:
            await asyncio.gather(*(client.stop() for client in clients))
            await engine.close()


def run(argv: list[str]) -> None:
    counts = [int(a) for a in argv] or [1, 50, 200]
    rows = {count: asyncio.run(measure(count)) for count in counts}
    first = rows[counts[0]]
    for count, figures in rows.items():
        extra = count - counts[0]
        per = ""
        if extra > 0:
            rss = (figures["RSS MiB"] - first["RSS MiB"]) * 1024 / extra
            threads = (figures["threads"] - first["threads"]) / extra
            fds = (figures["fds"] - first["fds"]) / extra
            per = (
                f"; per client past {counts[0]}: {rss:.0f} KiB, "
                f"{threads:.2f} threads, {fds:.2f} fds"
            )
        print(
            f"{count:>4} clients: host RSS {figures['RSS MiB']:.1f} MiB, "
            f"{figures['threads']:.0f} threads, {figures['fds']:.0f} fds "
            f"({figures['clients reported']:.0f} reported their offline connect){per}",
            flush=True,
        )


if __name__ == "__main__":
    run(sys.argv[1:])
