"""Waiting for what happens in the background: the one poll loop of the tests.

`eventually` awaits a check until it gives a true value, `eventually_sync` calls one (for
tests without an event loop); both return that value, and on giving up fail with what was
awaited (`what`, or the check's name) and what was seen: `seen()` if given, else the last
value the check gave.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")
Seen = Callable[[], object] | None

TIMEOUT_S = 10.0
INTERVAL_S = 0.05


def _gave_up(
    check: object, what: str | None, timeout: float, last: object, seen: Seen
) -> AssertionError:
    name = what or getattr(check, "__qualname__", None) or repr(check)
    shown = seen() if seen is not None else last
    return AssertionError(f"timed out after {timeout} s waiting for {name} (last: {shown!r})")


async def eventually(
    check: Callable[[], Awaitable[T | None]],
    *,
    timeout: float = TIMEOUT_S,
    interval: float = INTERVAL_S,
    what: str | None = None,
    seen: Seen = None,
) -> T:
    deadline = time.monotonic() + timeout
    while True:
        last = await check()
        if last:
            return last
        # Checked after the try: a check that takes the whole timeout still gets one go.
        if time.monotonic() >= deadline:
            raise _gave_up(check, what, timeout, last, seen)
        await asyncio.sleep(interval)


def eventually_sync(
    check: Callable[[], T | None],
    *,
    timeout: float = TIMEOUT_S,
    interval: float = INTERVAL_S,
    what: str | None = None,
    seen: Seen = None,
) -> T:
    deadline = time.monotonic() + timeout
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise _gave_up(check, what, timeout, last, seen)
        time.sleep(interval)
