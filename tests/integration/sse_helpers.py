"""A live event stream read in the background: its lines, and whether the server ended it."""

from __future__ import annotations

import asyncio
import contextlib

import httpx


class LiveStream:
    def __init__(self, base_url: str, path: str, headers: dict[str, str]) -> None:
        self.base_url = base_url
        self.path = path
        self.headers = headers
        self.lines: list[str] = []
        self.status = 0
        self.opened = asyncio.Event()
        self.ended = asyncio.Event()  # the server ended the response
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LiveStream:
        self._task = asyncio.create_task(self._read())
        await asyncio.wait_for(self.opened.wait(), 10)
        return self

    async def _read(self) -> None:
        try:
            async with (
                httpx.AsyncClient(base_url=self.base_url, timeout=30) as http,
                http.stream("GET", self.path, headers=self.headers) as response,
            ):
                self.status = response.status_code
                self.opened.set()
                async for line in response.aiter_lines():
                    self.lines.append(line)
                self.ended.set()
        finally:
            self.opened.set()

    async def wait_ended(self, timeout: float) -> None:
        await asyncio.wait_for(self.ended.wait(), timeout)

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
