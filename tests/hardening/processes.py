"""Real `wagate serve` processes for the hardening tests: started on a free loopback port,
their stdout and stderr kept in files so a test can read every line they wrote."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import ADMIN_TOKEN, free_port
from tests.support.polling import eventually_sync

WAGATE = str(Path(sys.executable).with_name("wagate"))


def serve_env(database_url: str, data_dir: Path, **overrides: Any) -> dict[str, str]:
    """The environment of a test node: simulator engine, fast timings, our admin token."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAGATE_")}
    values: dict[str, Any] = {
        "DATABASE_URL": database_url,
        "DATA_DIR": str(data_dir),
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "ENGINE": "simulator",
        "SIMULATOR_QR_INTERVAL_S": 1.0,
        "SIMULATOR_RECEIPT_DELAY_MS": 20,
        "RECONNECT_BASE_DELAY_S": 0.05,
        "RECONNECT_MAX_DELAY_S": 0.5,
        "LOG_LEVEL": "info",
        # The webhook receivers of these tests listen on 127.0.0.1.
        "ALLOW_PRIVATE_WEBHOOK_URLS": "true",
    }
    values.update({k.upper(): v for k, v in overrides.items()})
    env.update({f"WAGATE_{k}": str(v) for k, v in values.items() if v is not None})
    return env


@dataclass
class Node:
    """One running `wagate serve`."""

    env: dict[str, str]
    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def stdout_path(self) -> Path:
        return self.workdir / f"node-{self.port}.out"

    @property
    def stderr_path(self) -> Path:
        return self.workdir / f"node-{self.port}.err"

    def start(self, timeout: float = 30.0) -> Node:
        self.workdir.mkdir(parents=True, exist_ok=True)
        # Appended, so a restarted node adds to the same files.
        with self.stdout_path.open("ab") as out, self.stderr_path.open("ab") as err:
            self.process = subprocess.Popen(
                [WAGATE, "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                env=self.env,
                cwd=self.workdir,
                stdout=out,
                stderr=err,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"wagate serve exited {self.process.returncode}:\n{self.output()}"
                )
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"wagate serve did not answer within {timeout} s:\n{self.output()}")

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(5)

    def output(self) -> str:
        parts = []
        for path in (self.stdout_path, self.stderr_path):
            if path.exists():
                parts.append(path.read_text(errors="replace"))
        return "\n".join(parts)

    def __enter__(self) -> Node:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def admin_client(url: str, timeout: float = 30.0) -> httpx.Client:
    return httpx.Client(
        base_url=url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=timeout
    )


def linked(http: httpx.Client, name: str, **body: Any) -> str:
    """Create a simulator instance, connect it and link it; returns its token."""
    created = http.post("/v1/instances", json={"name": name, "engine": "simulator", **body})
    assert created.status_code == 201, created.text
    assert http.post(f"/v1/instances/{name}/connect").status_code == 202
    eventually_sync(
        lambda: http.get(f"/v1/instances/{name}").json()["status"] == "pairing",
        timeout=10,
        what="pairing",
    )
    scanned = http.post(f"/v1/instances/{name}/simulator/scan", json={})
    assert scanned.status_code == 204, scanned.text
    eventually_sync(
        lambda: http.get(f"/v1/instances/{name}").json()["status"] == "connected",
        timeout=10,
        what="connected",
    )
    token: str = created.json()["token"]
    return token
