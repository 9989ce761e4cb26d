"""The benchmark's bare endpoint serves on the node's own server class (`NodeServer`), which
must start with an app that is not a node (no gateway state)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_the_bare_endpoint_serves_on_the_node_server() -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.ceiling", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert server.poll() is None, server.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
            try:
                r = httpx.post(
                    f"http://127.0.0.1:{port}/v1/instances/x/send/text",
                    json={"to": "1", "text": "hi"},
                )
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "the bare endpoint did not come up"
                time.sleep(0.1)
        assert r.status_code == 202 and r.json()["status"] == "queued"
    finally:
        server.terminate()
        server.wait(10)
