"""A real S3-compatible server for the tests: moto's standalone server, started as a process of
its own on a loopback port. A server that cannot start fails the tests that need it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from botocore.session import get_session

ACCESS_KEY = "wagate-test-access"
SECRET_KEY = "wagate-test-secret-do-not-log"
REGION = "us-east-1"


def _port() -> int:
    """A free loopback port: within WAGATE_TEST_S3_PORTS (`first-last`) when it is set."""
    span = os.environ.get("WAGATE_TEST_S3_PORTS")
    candidates = [0]
    if span:
        first, _, last = span.partition("-")
        candidates = list(range(int(first), int(last or first) + 1))
    for candidate in candidates:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            port: int = sock.getsockname()[1]
            return port
    raise RuntimeError(f"no free port in WAGATE_TEST_S3_PORTS={span}")


@dataclass
class S3Server:
    url: str
    process: subprocess.Popen[bytes]

    def client(self) -> Any:
        return get_session().create_client(
            "s3",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def new_bucket(self) -> str:
        name = f"wagate-{uuid.uuid4().hex[:16]}"
        self.client().create_bucket(Bucket=name)
        return name

    def settings(self, bucket: str, prefix: str = "media") -> dict[str, Any]:
        """The WAGATE_MEDIA_* settings of a store in this server's bucket."""
        return {
            "media_store": f"s3://{bucket}/{prefix}",
            "media_s3_endpoint_url": self.url,
            "media_s3_region": REGION,
            "media_s3_access_key_id": ACCESS_KEY,
            "media_s3_secret_access_key": SECRET_KEY,
        }


def start_s3_server(timeout: float = 60.0) -> S3Server:
    port = _port()
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url + "/moto-api/", timeout=2).status_code < 500:
                return S3Server(url, process)
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            _, err = process.communicate(timeout=10)
            pytest.fail(f"moto's S3 server did not start on {url}: {err.decode()[-2000:]}")
        time.sleep(0.1)


def stop_s3_server(server: S3Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(10)
