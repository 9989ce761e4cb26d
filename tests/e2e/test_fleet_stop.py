"""A node holding thousands of linked instances starts them all and stops promptly on SIGTERM,
leaving each one to be resumed by the next start (bench/fleet.py measures 10,000)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_serve import Node, base_env
from tests.support.fleet import seed_linked

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

INSTANCES = 2000
ADMIN = "wga_e2e_fleet_admin_token_0123456789abcdef"
STOP_WITHIN_S = 5.0


async def count_connected(http: httpx.AsyncClient) -> int:
    params = {"status": "connected", "limit": "1000"}
    found = 0
    while True:
        body = (await http.get("/v1/instances", params=params)).json()
        found += len(body["instances"])
        if body["next_cursor"] is None:
            return found
        params["cursor"] = body["next_cursor"]


async def test_a_node_with_thousands_of_instances_stops_within_seconds(
    tmp_path: Path, nodes: list[Node]
) -> None:
    env = {**base_env(tmp_path), "WAGATE_ADMIN_TOKEN": ADMIN, "WAGATE_LOG_LEVEL": "warning"}
    (tmp_path / "data").mkdir()
    await seed_linked(env["WAGATE_DATABASE_URL"], INSTANCES)
    node = Node(tmp_path, env, 1)
    nodes.append(node)
    await node.wait_ready(timeout=300)
    headers = {"Authorization": f"Bearer {ADMIN}"}
    async with httpx.AsyncClient(base_url=node.url, headers=headers, timeout=60) as http:
        deadline = time.monotonic() + 300
        while (connected := await count_connected(http)) < INSTANCES:
            assert time.monotonic() < deadline, f"{connected} of {INSTANCES} connected"
            await asyncio.sleep(1)
    took = await node.terminate()
    assert node.process.returncode == 0, node.output[-3000:]
    assert took < STOP_WITHIN_S, f"stopping {INSTANCES} instances took {took:.1f} s"
    # Each instance was stopped and recorded so, and stays wanted connected: the next start
    # resumes every one.
    with sqlite3.connect(tmp_path / "data" / "wagate.db") as database:
        rows = database.execute(
            "SELECT status, desired_state, count(*) FROM instances GROUP BY 1, 2"
        ).fetchall()
        open_connections = database.execute(
            "SELECT count(*) FROM simulator_connections WHERE disconnected_at IS NULL"
        ).fetchone()
    assert rows == [("disconnected", "connected", INSTANCES)]
    assert open_connections == (0,)
