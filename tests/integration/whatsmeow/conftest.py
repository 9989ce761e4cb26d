"""Fixtures of the whatsmeow engine tests: a black-hole proxy (a dial that hangs, as on a
network that drops packets), short timings, and a client on a real engine host."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_settings
from tests.support.polling import eventually
from wagate.engines.base import ConnectionLost, EngineEvent, InstanceRef
from wagate.engines.whatsmeow.engine import WhatsmeowClient, WhatsmeowEngine
from wagate.engines.whatsmeow.supervisor import EngineHost


@dataclass
class BlackHole:
    """Accepts TCP connections and never answers: a WhatsApp dial through it hangs."""

    port: int = 0
    connections: list[asyncio.StreamWriter] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def wait_connections(self, count: int, timeout: float = 20.0) -> None:
        async def dialled() -> bool:
            return len(self.connections) >= count

        await eventually(
            dialled, timeout=timeout, what=f"{count} dials", seen=lambda: len(self.connections)
        )


@pytest.fixture
async def black_hole() -> AsyncIterator[BlackHole]:
    hole = BlackHole()

    async def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        hole.connections.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    hole.port = server.sockets[0].getsockname()[1]
    try:
        yield hole
    finally:
        for writer in hole.connections:
            writer.close()
        server.close()
        await server.wait_closed()


@pytest.fixture
def started_overrides() -> dict[str, Any]:
    """Override in a test module to change the `started` engine's settings."""
    return {}


@pytest.fixture
async def started(
    tmp_path: Path, started_overrides: dict[str, Any]
) -> AsyncIterator[tuple[WhatsmeowClient, EngineHost]]:
    """A client on a real engine host; offline, its connect fails and it stays unlinked."""
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path}/unused.db",
        tmp_path,
        whatsmeow_host_restart_max_delay_s=0.5,
        whatsmeow_stop_wait_s=0.5,
        **started_overrides,
    )
    engine = WhatsmeowEngine(settings, db=None)  # type: ignore[arg-type]  # no shared store
    await engine.open()
    events: list[EngineEvent] = []
    client = engine.create_client(InstanceRef(1, "handover"), events.append)
    await client.start()
    for _ in range(400):
        if any(isinstance(e, ConnectionLost) for e in events):
            break
        await asyncio.sleep(0.05)
    host = engine.pool.host_of(1)
    assert host is not None and host.alive and host.handover_dir is not None
    try:
        yield client, host
    finally:
        await client.stop()
        await engine.close()
    assert not engine.pool.handover.root.joinpath(host.handover_dir.parent.name).exists()
