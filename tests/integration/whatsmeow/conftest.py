"""Fixtures of the whatsmeow engine tests: a black-hole proxy (a dial that hangs, as on a
network that drops packets) and short timings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest


@dataclass
class BlackHole:
    """Accepts TCP connections and never answers: a WhatsApp dial through it hangs."""

    port: int = 0
    connections: list[asyncio.StreamWriter] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def wait_connections(self, count: int, timeout: float = 20.0) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.connections) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"expected {count} dials, saw {len(self.connections)}")
            await asyncio.sleep(0.05)


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
