"""`wagate serve` (or an installed copy of it) as a process of its own, for the tests that
need a real node: started, waited for until `/healthz` answers, stopped with SIGTERM."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest


@contextlib.contextmanager
def served(
    command: list[str],
    *,
    port: int,
    cwd: Path,
    env: dict[str, str],
    log: Path,
    start_timeout_s: float,
    stop_timeout_s: float,
    name: str = "the gateway",
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """(base URL, process) of a server started with `command` listening on 127.0.0.1:`port`
    (`name` says which in a failure); its output goes to `log`, whose tail a failed start
    shows."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + start_timeout_s
    while True:
        if process.poll() is not None:
            pytest.fail(f"{name} exited early:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"{name} did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)
    try:
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(stop_timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
