"""The real `wagate serve` process: first start, linking, SSE, SIGTERM, resume; `wagate migrate`."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import _pg_admin_sync, free_port, pg_async_url
from tests.integration.instance_helpers import SseReader
from tests.support.polling import eventually

pytestmark = pytest.mark.e2e

WAGATE = Path(sys.executable).with_name("wagate")
STOP_WITHIN_S = 10.0


def base_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WAGATE_")}
    env.update(
        WAGATE_DATA_DIR=str(tmp_path / "data"),
        WAGATE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'data' / 'wagate.db'}",
        WAGATE_SIMULATOR_QR_INTERVAL_S="5",
        WAGATE_LOG_LEVEL="info",
    )
    return env


class Node:
    """One `wagate serve` process with its output in files (a full pipe would block it)."""

    def __init__(self, tmp_path: Path, env: dict[str, str], run: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stdout_path = tmp_path / f"stdout-{run}.txt"
        self.stderr_path = tmp_path / f"stderr-{run}.txt"
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.process = subprocess.Popen(
                [str(WAGATE), "serve", "--port", str(self.port)],
                cwd=tmp_path,  # no stray .env is read
                env=env,
                stdout=out,
                stderr=err,
            )

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text()

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    @property
    def output(self) -> str:
        return self.stdout + self.stderr_path.read_text()

    async def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(base_url=self.url, timeout=2) as http:
            while time.monotonic() < deadline:
                assert self.process.poll() is None, self.output
                try:
                    if (await http.get("/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"the server never answered:\n{self.output}")

    async def terminate(self) -> float:
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        while self.process.poll() is None:
            assert time.monotonic() - started < STOP_WITHIN_S + 5, self.output
            await asyncio.sleep(0.05)
        return time.monotonic() - started

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def generated_token(stderr: str) -> str:
    tokens = [word for word in stderr.split() if word.startswith("wga_")]
    assert len(tokens) == 1, stderr
    return tokens[0]


async def test_serve_link_sigterm_and_resume(tmp_path: Path, nodes: list[Node]) -> None:
    env = base_env(tmp_path)
    first = Node(tmp_path, env, 1)
    nodes.append(first)
    await first.wait_ready()
    token = generated_token(first.stderr)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=first.url, headers=headers, timeout=10) as http:
        ready = await http.get("/readyz")
        assert ready.status_code == 200 and ready.json()["database"] == "ok"
        assert (await http.get("/openapi.json")).status_code == 200
        created = await http.post("/v1/instances", json={"name": "e2e", "engine": "simulator"})
        assert created.status_code == 201, created.text
        instance_token = created.json()["token"]
        async with http.stream("GET", "/v1/instances/e2e/events") as stream:
            reader = SseReader(stream)
            assert (await http.post("/v1/instances/e2e/connect")).status_code == 202
            await reader.until("qr_updated")
            scan = await http.post("/v1/instances/e2e/simulator/scan", json={})
            assert scan.status_code == 204, scan.text
            connected = await reader.until("connection_update", "connected")
            assert connected["data"]["jid"].endswith("@s.whatsapp.net")
            # SIGTERM with a live SSE stream open: the node still stops promptly and cleanly
            took = await first.terminate()
    assert first.process.returncode == 0, first.output
    assert took < STOP_WITHIN_S, f"stopping took {took:.1f} s"
    output = first.output
    assert output.count(token) == 1  # printed once, never logged
    assert instance_token not in output

    second = Node(tmp_path, env, 2)
    nodes.append(second)
    await second.wait_ready()
    assert "wga_" not in second.output and "generated" not in second.output
    async with httpx.AsyncClient(base_url=second.url, headers=headers, timeout=10) as http:
        deadline = time.monotonic() + 10
        while True:
            got = (await http.get("/v1/instances/e2e")).json()
            if got["status"] == "connected":
                break
            assert time.monotonic() < deadline, got
            await asyncio.sleep(0.1)
        assert got["jid"] == connected["data"]["jid"]
        listed = await http.get("/v1/instances", headers={"X-Api-Key": instance_token})
        assert [i["name"] for i in listed.json()["instances"]] == ["e2e"]
    assert await second.terminate() < STOP_WITHIN_S
    assert second.process.returncode == 0, second.output


async def test_a_killed_node_is_resumed_by_the_next(tmp_path: Path, nodes: list[Node]) -> None:
    env = {**base_env(tmp_path), "WAGATE_ADMIN_TOKEN": "wga_e2e_kill_token_0123456789abcdef"}
    headers = {"X-Api-Key": "wga_e2e_kill_token_0123456789abcdef"}
    first = Node(tmp_path, env, 1)
    nodes.append(first)
    await first.wait_ready()
    async with httpx.AsyncClient(base_url=first.url, headers=headers, timeout=10) as http:
        await http.post("/v1/instances", json={"name": "crash", "engine": "simulator"})
        await http.post("/v1/instances/crash/connect")
        await wait_for_status(http, "crash", "pairing")
        await http.post("/v1/instances/crash/simulator/scan", json={})
        await wait_for_status(http, "crash", "connected")
    first.kill()  # no clean stop: its simulated connection is left open
    database = tmp_path / "data" / "wagate.db"
    with sqlite3.connect(database) as db:
        assert db.execute(
            "SELECT count(*) FROM simulator_connections WHERE disconnected_at IS NULL"
        ).fetchone() == (1,)

    second = Node(tmp_path, env, 2)
    nodes.append(second)
    await second.wait_ready()
    async with httpx.AsyncClient(base_url=second.url, headers=headers, timeout=10) as http:
        await wait_for_status(http, "crash", "connected")
    with sqlite3.connect(database) as db:
        rows = db.execute("SELECT node, disconnected_at FROM simulator_connections").fetchall()
    # the dead node's connection was closed by the node that resumed the instance
    assert len(rows) == 2 and [r[1] is None for r in rows] == [False, True]
    assert rows[0][0] != rows[1][0]
    await second.terminate()
    assert second.process.returncode == 0, second.output


async def wait_for_status(http: httpx.AsyncClient, name: str, status: str) -> None:
    got: dict[str, Any] = {}

    async def reached() -> bool:
        got.update((await http.get(f"/v1/instances/{name}")).json())
        return bool(got["status"] == status)

    await eventually(reached, timeout=10, what=f"{name} {status}", seen=lambda: got)


async def test_serve_with_an_admin_token_from_the_environment(
    tmp_path: Path, nodes: list[Node]
) -> None:
    env = {**base_env(tmp_path), "WAGATE_ADMIN_TOKEN": "wga_e2e_chosen_token_0123456789abcdef"}
    node = Node(tmp_path, env, 1)
    nodes.append(node)
    await node.wait_ready()
    assert "generated" not in node.output
    async with httpx.AsyncClient(base_url=node.url, timeout=10) as http:
        assert (await http.get("/v1/instances")).status_code == 401
        response = await http.get(
            "/v1/instances", headers={"X-Api-Key": "wga_e2e_chosen_token_0123456789abcdef"}
        )
        assert response.json() == {"instances": [], "next_cursor": None}
    await node.terminate()
    assert node.process.returncode == 0
    assert "wga_e2e_chosen_token_0123456789abcdef" not in node.output


def test_migrate_sqlite(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    result = subprocess.run(
        [str(WAGATE), "migrate"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "migrations applied" in result.stdout
    with sqlite3.connect(tmp_path / "data" / "wagate.db") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert {"instances", "alembic_version", "simulator_connections"} <= tables
        assert db.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)
    # applying again is a no-op
    again = subprocess.run(
        [str(WAGATE), "migrate"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert again.returncode == 0, again.stderr


@pytest.mark.postgres
def test_migrate_postgres(tmp_path: Path) -> None:
    name = f"wagate_e2e_{uuid.uuid4().hex[:10]}"
    _pg_admin_sync(f'CREATE DATABASE "{name}"')
    try:
        env = {**base_env(tmp_path), "WAGATE_DATABASE_URL": pg_async_url(name)}
        result = subprocess.run(
            [str(WAGATE), "migrate"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        assert "migrations applied" in result.stdout
    finally:
        _pg_admin_sync(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
