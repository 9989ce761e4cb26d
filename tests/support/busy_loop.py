"""A saturated event loop: CPU-bound work that keeps the loop (and a core) busy in slices, as
a burst of heavy requests does, with one turn of the loop between slices."""

from __future__ import annotations

import asyncio
import time


def spin(seconds: float) -> None:
    """Keep the CPU busy in Python for this long (the GIL is only given up between bytecodes,
    as any pure-Python work does)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


async def saturate(total_s: float, slice_s: float) -> int:
    """Block the running loop for `slice_s` at a time until `total_s` have passed; the number
    of slices."""
    end = time.monotonic() + total_s
    slices = 0
    while (left := end - time.monotonic()) > 0:
        spin(min(slice_s, left))
        slices += 1
        await asyncio.sleep(0)
    return slices
