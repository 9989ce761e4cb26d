"""Helpers shared by the instance tests (plain functions, no fixtures)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI

from tests.support.polling import eventually
from wagate.state import AppState


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is the API.md error body with this status and code; returns `error`."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"]
    assert isinstance(error["details"], dict)
    return error


def bad_fields(response: httpx.Response) -> set[str]:
    error = assert_error(response, 422, "validation_error")
    return {item["field"] for item in error["details"]["fields"]}


def token_headers(token: str, *, api_key: bool = False) -> dict[str, str]:
    return {"X-Api-Key": token} if api_key else {"Authorization": f"Bearer {token}"}


def state_of(app: FastAPI) -> AppState:
    state: AppState = app.state.wagate
    return state


class Recorder:
    """Every event the bus publishes for one instance, in order (subscribe before acting)."""

    def __init__(self, app: FastAPI, name: str) -> None:
        self.bus = state_of(app).bus
        self.manager = state_of(app).manager
        self.name = name
        self.events: list[Any] = []
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Recorder:
        ready = asyncio.Event()

        async def run() -> None:
            async with self.bus.subscribe(self.name) as queue:
                ready.set()
                while True:
                    item = await queue.get()
                    if item is None:
                        return
                    self.events.append(item)

        self._task = asyncio.create_task(run())
        await ready.wait()
        # Events of what happened before (the link's own "connected") may still be on their
        # way: let the instance settle, then record only what follows.
        async with asyncio.timeout(10):
            await self.manager.settled(self.name)
        self.events.clear()
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def statuses(self) -> list[str]:
        return [e.data["status"] for e in self.events if e.event == "connection_update"]

    def named(self, event: str) -> list[Any]:
        return [e for e in self.events if e.event == event]

    async def wait_for(self, predicate: Callable[[Any], bool], timeout: float = 10.0) -> Any:
        async def matching() -> Any:
            return next((item for item in self.events if predicate(item)), None)

        return await eventually(
            matching,
            timeout=timeout,
            interval=0.01,
            what="a matching event",
            seen=lambda: [(e.event, e.data) for e in self.events],
        )

    async def wait_status(self, status: str, timeout: float = 10.0) -> Any:
        return await self.wait_for(
            lambda e: e.event == "connection_update" and e.data["status"] == status, timeout
        )


class SseReader:
    """Reads a text/event-stream response into (event, data) pairs."""

    def __init__(self, response: httpx.Response) -> None:
        self.lines = response.aiter_lines()
        self.comments: list[str] = []

    async def next(self, timeout: float = 10.0) -> tuple[str, dict[str, Any]]:
        return await asyncio.wait_for(self._next(), timeout)

    async def _next(self) -> tuple[str, dict[str, Any]]:
        event, data, ident = "message", "", None
        async for line in self.lines:
            if line == "":
                if data:
                    parsed: dict[str, Any] = json.loads(data)
                    assert parsed["id"] == ident and parsed["event"] == event
                    return event, parsed
                continue
            if line.startswith(":"):
                self.comments.append(line)
            field, _, value = line.partition(": ")
            if field == "event":
                event = value
            elif field == "data":
                data += value
            elif field == "id":
                ident = value
        raise EOFError("the stream ended")

    async def until(
        self, event: str, status: str | None = None, timeout: float = 10.0
    ) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            name, envelope = await self.next(max(left, 0.01))
            if name == event and (status is None or envelope["data"].get("status") == status):
                return envelope
