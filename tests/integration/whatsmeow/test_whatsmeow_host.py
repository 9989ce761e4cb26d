"""Engine hosts for real: the subprocess, its protocol, and what happens when it is killed."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import create_instance, make_settings, wait_status
from tests.integration.whatsmeow.conftest import BlackHole
from wagate.engines.actions import CHECK_NUMBERS, SEND, CheckNumbersRequest
from wagate.engines.base import (
    ConnectionLost,
    EngineEvent,
    NotConnectedError,
    OutgoingMessage,
    TransientEngineError,
)
from wagate.engines.whatsmeow.engine import WhatsmeowEngine
from wagate.engines.whatsmeow.supervisor import EngineHost, HostPool
from wagate.instances import repository

pytestmark = pytest.mark.e2e


async def test_host_answers_and_survives_a_sigkill_mid_call(tmp_path: Path) -> None:
    settings = make_settings(
        f"sqlite+aiosqlite:///{tmp_path}/unused.db",
        tmp_path,
        whatsmeow_host_restart_max_delay_s=0.5,
        whatsmeow_stop_wait_s=0.5,
    )
    exits: list[str] = []
    events: list[tuple[int, str, EngineEvent]] = []

    def on_exit(host: EngineHost, reason: str) -> None:
        exits.append(reason)

    pool = HostPool(settings, lambda i, t, e: events.append((i, t, e)), on_exit)
    try:
        host = await pool.host_for(1)
        assert (await host.request("ping", {}, 5))["pid"] == host.pid
        with pytest.raises(TransientEngineError):
            await host.request("no_such_method", {}, 5)  # refused, and the host lives on
        with pytest.raises(TransientEngineError, match="did not answer in time"):
            await host.request("ping", {"delay": 2}, 0.2)
        assert await host.request("status", {}, 5) == {}

        in_flight = asyncio.create_task(host.request("ping", {"delay": 30}, 60))
        await asyncio.sleep(0.2)
        assert host.pid is not None
        os.kill(host.pid, signal.SIGKILL)
        started = time.monotonic()
        with pytest.raises(TransientEngineError, match="died"):
            await in_flight
        assert time.monotonic() - started < 5
        assert exits and "exit code -9" in exits[0]

        with pytest.raises(TransientEngineError, match="not running"):
            await host.request("ping", {}, 5)
        again = await pool.host_for(1)  # restarted on next use, after its backoff
        assert again.pid != host.pid and again.alive
        assert (await again.request("ping", {}, 5))["pid"] == again.pid
    finally:
        await pool.close()


def whatsmeow_of(app: FastAPI) -> WhatsmeowEngine:
    engine = app.state.wagate.manager.engines["whatsmeow"]
    assert isinstance(engine, WhatsmeowEngine)
    return engine


async def instance_id(app: FastAPI, name: str) -> int:
    async with app.state.wagate.db.session() as session:
        row = await repository.get_by_name(session, name)
    assert row is not None
    return int(row.id)


async def _host_alive(engine: WhatsmeowEngine, instance_id: int, not_pid: int | None) -> Any:
    for _ in range(400):
        host = engine.pool.host_of(instance_id)
        if host is not None and host.alive and host.pid != not_pid:
            return host
        await asyncio.sleep(0.05)
    raise AssertionError("no live engine host for the instance")


@pytest.fixture
def settings_overrides(black_hole: BlackHole) -> dict[str, Any]:
    return {
        "whatsmeow_proxy": black_hole.url,  # every dial hangs: the instance stays connecting
        "whatsmeow_host_restart_max_delay_s": 0.5,
        "whatsmeow_stop_wait_s": 0.5,
    }


async def test_killed_host_instances_reconnect_and_api_keeps_serving(
    app: FastAPI, client: httpx.AsyncClient, black_hole: BlackHole
) -> None:
    engine = whatsmeow_of(app)
    created = await create_instance(client, engine="whatsmeow")
    name = created["name"]
    response = await client.post(f"/v1/instances/{name}/connect")
    assert response.status_code == 202 and response.json()["status"] == "connecting"
    row_id = await instance_id(app, name)
    first = await _host_alive(engine, row_id, None)
    await black_hole.wait_connections(1)  # the host is dialing WhatsApp (and hangs)

    started = time.monotonic()
    health = await client.get("/healthz")
    assert health.status_code == 200 and time.monotonic() - started < 1
    assert (await client.get(f"/v1/instances/{name}")).json()["status"] == "connecting"

    live = app.state.wagate.manager.live_client(name)
    assert live is not None
    message = OutgoingMessage("text", "5511987654321@s.whatsapp.net", {"text": "hi"}, "c1")
    with pytest.raises(NotConnectedError):  # refused by the host: the session is not linked
        await live.call(SEND, message)
    with pytest.raises(NotConnectedError):
        await live.call(CHECK_NUMBERS, CheckNumbersRequest(["5511987654321"]))
    health = await engine.health()
    assert health.ok and health.extra["hosts"]["0"]["pid"] == first.pid

    lost: list[str] = []
    original_sink = engine.clients[row_id].sink

    def spy(event: EngineEvent) -> None:
        if isinstance(event, ConnectionLost):
            lost.append(event.reason)
        original_sink(event)

    engine.clients[row_id].sink = spy
    # A pair request waits in the host for a QR that cannot come: it is in flight at the kill.
    pair = asyncio.create_task(
        client.post(f"/v1/instances/{name}/pair", json={"phone": "5511987654321"})
    )
    await asyncio.sleep(0.3)
    assert first.pid is not None
    os.kill(first.pid, signal.SIGKILL)

    answer = await asyncio.wait_for(pair, 10)
    assert answer.status_code == 502, answer.text
    assert "died" in answer.json()["error"]["message"]
    assert lost and "engine host died" in lost[0]

    second = await _host_alive(engine, row_id, first.pid)
    assert second.pid != first.pid
    await black_hole.wait_connections(2)  # the instance dials again from the new host
    await wait_status(client, name, "connecting")
    assert (await client.get("/healthz")).status_code == 200


def test_go_prints_never_reach_the_ipc_channel() -> None:
    """Go's fmt.Println writes to fd 1; in a host fd 1 is stderr and frames have their own fd."""
    script = (
        "import asyncio, os\n"
        "import wagate.engines.whatsmeow.host as host\n"
        "from neonize.aioze.client import NewAClient\n"
        "from neonize.utils.jid import build_jid\n"
        "async def main():\n"
        "    client = NewAClient(':memory:', uuid='print-check')\n"
        "    try:\n"
        "        await client.send_message(build_jid('5511987654321'), 'x')\n"
        "    except Exception as exc:\n"
        "        print('python saw:', type(exc).__name__)\n"
        "asyncio.run(main())\n"
        "os.write(host.IPC_FD, b'FRAME-ONLY')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, timeout=60, check=True
    )
    assert done.stdout == b"FRAME-ONLY"
    assert b"python saw: SendMessageError" in done.stderr
    assert b"SendMessage" in done.stderr.replace(b"python saw: SendMessageError", b"")
