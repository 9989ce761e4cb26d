"""The lifecycle gate of an engine host: many Go calls at once, or one connect/stop alone.

neonize's Go side keeps its clients in global maps without a lock (NEONIZE.md §0.2): a
connect or stop running while another thread makes any call can abort the process with
`concurrent map read and map write`. A crash would drop every instance of the host and their
reconnects would race again, so calls share the gate and connect/stop take it whole. Waiting
writers go first, so a steady flow of sends cannot starve a connect.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class LifecycleGate:
    def __init__(self) -> None:
        self._condition = asyncio.Condition()
        self._readers = 0
        self._writing = False
        self._writers_waiting = 0

    @asynccontextmanager
    async def shared(self) -> AsyncIterator[None]:
        """Around any call into Go other than connect/stop."""
        async with self._condition:
            await self._condition.wait_for(lambda: not self._writing and self._writers_waiting == 0)
            self._readers += 1
        try:
            yield
        finally:
            async with self._condition:
                self._readers -= 1
                self._condition.notify_all()

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """Around connect and stop: nothing else runs in Go meanwhile."""
        async with self._condition:
            self._writers_waiting += 1
            try:
                await self._condition.wait_for(lambda: not self._writing and self._readers == 0)
            finally:
                self._writers_waiting -= 1
            self._writing = True
        try:
            yield
        finally:
            async with self._condition:
                self._writing = False
                self._condition.notify_all()
