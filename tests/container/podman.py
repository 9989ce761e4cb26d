"""The image under test, built once per content of its inputs, and containers run from it."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
# Everything that goes into the image (the build context that .dockerignore lets through)
# and the recipe: a change to any of them makes a new tag, so the image is rebuilt.
RECIPE = ("Dockerfile", ".dockerignore", "scripts/container.sh", "pyproject.toml", "README.md")


def build_inputs() -> list[Path]:
    files = [ROOT / name for name in RECIPE]
    files += sorted(ROOT.glob("LICENSE*"))
    files += sorted(
        path
        for path in (ROOT / "src").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    )
    return files


def content_hash() -> str:
    digest = hashlib.sha256()
    for path in build_inputs():
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def podman(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> str:
    done = subprocess.run(
        ["podman", *args],
        capture_output=True,
        text=True,
        env=None if env is None else {**os.environ, **env},
        timeout=timeout,
    )
    if done.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)}: {done.returncode}\n{done.stderr}")
    return done.stdout.strip()


def built_image() -> str:
    """The image's tag; built by scripts/container.sh (which installs podman) when missing."""
    tag = f"localhost/wagate:test-{content_hash()}"
    # Installs podman and makes the base image where they are missing (a new machine); quick
    # when all is there.
    setup = subprocess.run(
        ["bash", str(ROOT / "scripts/container.sh"), "setup"],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if setup.returncode != 0:
        pytest.fail(f"podman cannot be set up:\n{setup.stderr[-6000:]}")
    exists = subprocess.run(["podman", "image", "exists", tag], capture_output=True, check=False)
    if exists.returncode == 0:
        return tag
    build = subprocess.run(
        ["bash", str(ROOT / "scripts/container.sh"), "build", tag],
        capture_output=True,
        text=True,
        timeout=3000,
        check=False,
    )
    if build.returncode != 0:
        pytest.fail(f"the image did not build:\n{build.stderr[-6000:]}")
    # Earlier test images are of older sources: keep the disk from filling with them.
    for old in podman("images", "--format", "{{.Repository}}:{{.Tag}}").splitlines():
        if old.startswith("localhost/wagate:test-") and old != tag:
            subprocess.run(["podman", "rmi", "-f", old], capture_output=True, check=False)
    return tag


class Container:
    """One `podman run -d` of the image, on the host's network, /data on a named volume."""

    def __init__(self, image: str, volume: str, port: int, env: dict[str, str]) -> None:
        self.name = f"wagate-test-{uuid.uuid4().hex[:10]}"
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        values = {"WAGATE_PORT": str(port), **env}
        # `-e NAME` takes the value from podman's environment: no token on a command line.
        names = [arg for name in values for arg in ("-e", name)]
        podman(
            "run", "-d", "--name", self.name, "--network=host", "-v", f"{volume}:/data",
            *names, image, env=values,
        )  # fmt: skip

    def logs(self) -> str:
        done = subprocess.run(["podman", "logs", self.name], capture_output=True, text=True)
        return done.stdout + done.stderr

    def wait_healthy(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = podman("inspect", "--format", "{{.State.Status}}", self.name)
            assert state == "running", f"container {state}:\n{self.logs()}"
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"the container never answered /healthz:\n{self.logs()}")

    def stop(self, timeout: int = 30) -> tuple[float, int]:
        """`podman stop` (SIGTERM, then SIGKILL after `timeout`): seconds taken, exit code."""
        started = time.monotonic()
        podman("stop", "-t", str(timeout), self.name, timeout=timeout + 30)
        took = time.monotonic() - started
        return took, int(podman("inspect", "--format", "{{.State.ExitCode}}", self.name))

    def remove(self) -> None:
        subprocess.run(["podman", "rm", "-f", "-t", "5", self.name], capture_output=True)
