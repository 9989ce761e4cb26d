"""A new gateway on the same database resumes what the user left connected, without a scan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from tests.conftest import admin_headers, linked_instance, make_settings, running_app, wait_status
from tests.integration.instance_helpers import state_of
from wagate.engines.simulator.engine import SimulatorEngine
from wagate.models import SimulatorConnection


@contextlib.asynccontextmanager
async def gateway(
    database_url: str, data_dir: Path
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    async with running_app(make_settings(database_url, data_dir)) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://wagate.test", headers=admin_headers()
        ) as http:
            yield app, http


async def test_restart_resumes_linked_instances(database_url: str, tmp_path: Path) -> None:
    async with gateway(database_url, tmp_path / "data") as (app, http):
        first_node = state_of(app).settings.node_id
        connected = await linked_instance(http)
        stopped = await linked_instance(http)
        logged_out = await linked_instance(http)
        assert (await http.post(f"/v1/instances/{stopped['name']}/disconnect")).status_code == 200
        assert (await http.post(f"/v1/instances/{logged_out['name']}/logout")).status_code == 200

    async with gateway(database_url, tmp_path / "data") as (app, http):
        # the first gateway closed its connections when it stopped
        async with state_of(app).db.session() as session:
            rows = (await session.execute(select(SimulatorConnection))).scalars().all()
        old = [row for row in rows if row.node == first_node]
        assert len(old) == 3 and all(row.disconnected_at is not None for row in old)
        # resumed during startup: already connected, on the new node, same device
        got = await wait_status(http, connected["name"], "connected", timeout=5)
        assert got["jid"] == connected["jid"] and got["phone"] == connected["phone"]
        assert got["node"] == state_of(app).settings.node_id != first_node
        engine = state_of(app).manager.engines["simulator"]
        assert isinstance(engine, SimulatorEngine)
        assert engine.clients  # a simulated connection exists without any scan
        # what the user stopped stays stopped
        got = (await http.get(f"/v1/instances/{stopped['name']}")).json()
        assert got["status"] == "disconnected" and got["jid"] == stopped["jid"]
        assert state_of(app).manager.live_client(stopped["name"]) is None
        got = (await http.get(f"/v1/instances/{logged_out['name']}")).json()
        assert got["status"] == "logged_out"
        # the one that was disconnected by request still resumes without a scan when asked
        await http.post(f"/v1/instances/{stopped['name']}/connect")
        await wait_status(http, stopped["name"], "connected")

    async with gateway(database_url, tmp_path / "data") as (app, http):
        # and now both come back on the third start
        for name in (connected["name"], stopped["name"]):
            await wait_status(http, name, "connected", timeout=5)
        assert (await http.get(f"/v1/instances/{logged_out['name']}")).json()["status"] == (
            "logged_out"
        )
