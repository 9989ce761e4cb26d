"""`wagate serve` whose event loop a test can saturate from outside: SIGUSR1 starts
`busy_loop.saturate` on the node's loop for BUSY_TOTAL_S seconds, in slices of BUSY_SLICE_S.
Run as `python -m tests.support.busy_serve serve --port N` (the repository on PYTHONPATH)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from types import FrameType

from tests.support.busy_loop import saturate
from wagate.cli import main

_tasks: set[asyncio.Task[int]] = set()


def _on_usr1(signum: int, frame: FrameType | None) -> None:
    # Runs in the main thread, which runs the node's event loop.
    loop = asyncio.get_running_loop()
    total = float(os.environ.get("BUSY_TOTAL_S", "10"))
    slice_s = float(os.environ.get("BUSY_SLICE_S", "2.5"))

    def start() -> None:
        task = loop.create_task(saturate(total, slice_s), name="busy-loop")
        _tasks.add(task)
        task.add_done_callback(_tasks.discard)

    loop.call_soon_threadsafe(start)


if __name__ == "__main__":
    signal.signal(signal.SIGUSR1, _on_usr1)
    sys.exit(main())
