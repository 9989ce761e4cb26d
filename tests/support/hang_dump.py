"""A hang diagnostic for the test suite: when one test (setup, call and teardown together) runs
longer than a threshold, write every thread's stack and every asyncio task's stack (what each
task awaits) straight to the terminal, past pytest's output capture.

pytest-timeout only shows the threads: a hung async test shows an idle event loop in select(),
which says nothing about the await that never finishes. This shows that await.

One watchdog thread serves the whole run (armed and disarmed per test: no thread per test, no
output unless a test runs over). The threshold is WAGATE_HANG_DUMP_S, else three quarters of
the test's pytest-timeout (so the dump comes before the timeout ends the test), else 300 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import gc
import inspect
import io
import linecache
import os
import threading
import time
import traceback
from types import FrameType
from typing import Any

import pytest

DEFAULT_S = 300.0
REPEATS = 2  # a hang dumps at the threshold and once more a threshold later (still the same?)


def threshold(item: pytest.Item) -> float:
    configured = os.environ.get("WAGATE_HANG_DUMP_S")
    if configured:
        return float(configured)
    timeout: Any = None
    marker = item.get_closest_marker("timeout")
    if marker is not None and marker.args:
        timeout = marker.args[0]
    if timeout is None:
        timeout = item.config.getoption("timeout", None)
    if timeout is None:
        try:
            timeout = item.config.getini("timeout")
        except ValueError:
            timeout = None
    try:
        seconds = float(timeout) if timeout not in (None, "") else 0.0
    except (TypeError, ValueError):
        seconds = 0.0
    return 0.75 * seconds if seconds > 0 else DEFAULT_S


def _event_loops() -> list[asyncio.AbstractEventLoop]:
    # The loop belongs to the main thread (pytest-asyncio's runner): find it without its help.
    return [
        obj
        for obj in gc.get_objects()
        if isinstance(obj, asyncio.AbstractEventLoop) and not obj.is_closed()
    ]


def _referent(obj: object) -> object | None:
    """What an opaque awaitable wraps (an async generator's asend/athrow object, a future's
    __await__ iterator): the next link of the await chain."""
    for ref in gc.get_referents(obj):
        if inspect.iscoroutine(ref) or inspect.isasyncgen(ref) or inspect.isgenerator(ref):
            return ref
        if isinstance(ref, asyncio.Future):
            return ref
    return None


def await_chain(task: asyncio.Task[Any]) -> list[str]:
    """The frames of a task from its coroutine down to what it is suspended on. Unlike
    Task.print_stack this goes on through async generators (async fixtures,
    asynccontextmanager: the app's lifespan), where print_stack stops."""
    lines: list[str] = []
    obj: object | None = task.get_coro()
    for _ in range(200):
        if obj is None:
            break
        frame: FrameType | None = None
        if inspect.iscoroutine(obj):
            frame, nxt = obj.cr_frame, obj.cr_await
        elif inspect.isasyncgen(obj):
            frame, nxt = obj.ag_frame, obj.ag_await
        elif inspect.isgenerator(obj):
            frame, nxt = obj.gi_frame, obj.gi_yieldfrom
        elif isinstance(obj, asyncio.Future):
            lines.append(f"    awaiting {obj!r}")
            break
        else:
            nxt = _referent(obj)
            if nxt is None:
                lines.append(f"    awaiting {obj!r}")
                break
        if frame is not None:
            code = frame.f_code
            lines.append(f'  File "{code.co_filename}", line {frame.f_lineno}, in {code.co_name}')
            source = linecache.getline(code.co_filename, frame.f_lineno).strip()
            if source:
                lines.append(f"    {source}")
        obj = nxt
    return lines


def _task_report(task: asyncio.Task[Any]) -> str:
    return f"--- {task!r}\n" + "".join(line + "\n" for line in await_chain(task))


def format_asyncio_tasks() -> str:
    out = io.StringIO()
    for loop in _event_loops():
        try:
            tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
        except RuntimeError as exc:  # the task set changed size under us too often
            out.write(f"asyncio tasks of {loop!r}: not listed ({exc})\n")
            continue
        out.write(f"=== {len(tasks)} asyncio tasks of {loop!r} (running={loop.is_running()})\n")
        for task in sorted(tasks, key=lambda t: t.get_name()):
            try:
                out.write(_task_report(task))
            except Exception as exc:  # a diagnostic never fails the run
                out.write(f"--- {task!r}: stack not readable ({exc!r})\n")
    return out.getvalue()


class HangWatchdog:
    """Armed with a test id and a deadline; dumps when the deadline passes while armed."""

    def __init__(self, fd: int) -> None:
        self.fd = fd  # a duplicate of the terminal's stderr, taken before capture started
        self._lock = threading.Condition()
        self._nodeid: str | None = None
        self._deadline = 0.0
        self._every = 0.0
        self._dumps = 0
        self._started = 0.0
        self._thread = threading.Thread(target=self._run, name="hang-watchdog", daemon=True)
        self._thread.start()

    def arm(self, nodeid: str, seconds: float) -> None:
        with self._lock:
            self._nodeid = nodeid
            self._started = time.monotonic()
            self._deadline = self._started + seconds
            self._every = seconds
            self._dumps = 0
            self._lock.notify()

    def disarm(self) -> None:
        with self._lock:
            self._nodeid = None
            self._lock.notify()

    def _run(self) -> None:
        while True:
            with self._lock:
                while self._nodeid is None:
                    self._lock.wait()
                wait = self._deadline - time.monotonic()
                if wait > 0:
                    self._lock.wait(wait)
                    continue
                nodeid, started = self._nodeid, self._started
                self._dumps += 1
                if self._dumps >= REPEATS:
                    self._nodeid = None
                else:
                    self._deadline += self._every
            self.dump(nodeid, time.monotonic() - started)

    def _write(self, text: str) -> None:
        data = text.encode("utf-8", "replace")
        while data:
            written = os.write(self.fd, data)
            data = data[written:]

    def dump(self, nodeid: str, elapsed: float) -> None:
        try:
            self._write(
                f"\n\n+++++ HANG? {nodeid} has run for {elapsed:.0f} s: every thread's stack, "
                "then every asyncio task's stack +++++\n"
            )
            faulthandler.dump_traceback(file=self.fd, all_threads=True)
            self._write(format_asyncio_tasks())
            self._write(f"+++++ end of the dump for {nodeid} +++++\n\n")
        except Exception:
            with contextlib.suppress(Exception):
                self._write("hang dump failed:\n" + traceback.format_exc())
