"""The client manager under concurrent lifecycle calls: at most one live client per instance.

Rounds of connect / disconnect / logout / restart / delete / pair / scan calls, in random
order and all at once, on a few instances; after each round the invariants are checked:
- the simulated network never saw two open connections of one instance at the same time
  (its simulator_connections rows, as intervals, never overlap);
- the engine holds at most one running client per instance, and it is the manager's;
- once the calls settle, the status in the database, in the manager and the live client agree.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import random
from collections import defaultdict
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from tests.conftest import create_instance, unique_name
from tests.integration.instance_helpers import state_of
from wagate.engines.manager import ClientManager
from wagate.engines.simulator.engine import SimulatorClient, SimulatorEngine
from wagate.models import Instance, SimulatorConnection

INSTANCES = 4
ROUNDS = 6
CALLS_PER_ROUND = 40
ALLOWED_ANSWERS = {200, 202, 204, 404, 409}

# Long QR codes: a pairing instance stays pairing for the whole test.
pytestmark = pytest.mark.parametrize(
    "settings_overrides", [{"simulator_qr_interval_s": 30.0, "simulator_pair_code_delay_s": 0.05}]
)


class ClientLog:
    """Every client the simulator engine creates, by instance id."""

    def __init__(self, engine: SimulatorEngine) -> None:
        self.by_instance: dict[int, list[SimulatorClient]] = defaultdict(list)
        original = engine.create_client

        def spy(instance: Any, sink: Any) -> SimulatorClient:
            client = original(instance, sink)
            self.by_instance[instance.id].append(client)
            return client

        engine.create_client = spy  # type: ignore[method-assign]

    def running(self, instance_id: int) -> list[SimulatorClient]:
        return [c for c in self.by_instance[instance_id] if not c._stopped]


async def call(client: httpx.AsyncClient, name: str, action: str) -> int:
    if action == "delete":
        response = await client.delete(f"/v1/instances/{name}")
    elif action == "pair":
        response = await client.post(f"/v1/instances/{name}/pair", json={"phone": "+5511977776666"})
    elif action == "scan":
        response = await client.post(f"/v1/instances/{name}/simulator/scan", json={})
    else:
        response = await client.post(f"/v1/instances/{name}/{action}")
    assert response.status_code in ALLOWED_ANSWERS, (action, response.status_code, response.text)
    return response.status_code


async def overlapping_connections(app: FastAPI) -> list[str]:
    async with state_of(app).db.session() as session:
        rows = (
            (
                await session.execute(
                    select(SimulatorConnection).order_by(
                        SimulatorConnection.instance_id, SimulatorConnection.connected_at
                    )
                )
            )
            .scalars()
            .all()
        )
    problems = []
    by_instance: dict[int, list[SimulatorConnection]] = defaultdict(list)
    for row in rows:
        by_instance[row.instance_id].append(row)
    for instance_id, intervals in by_instance.items():
        open_rows = [r for r in intervals if r.disconnected_at is None]
        if len(open_rows) > 1:
            problems.append(f"instance {instance_id}: {len(open_rows)} open connections")
        for before, after in itertools.pairwise(intervals):
            if before.disconnected_at is None or before.disconnected_at > after.connected_at:
                problems.append(
                    f"instance {instance_id}: connection {before.id} "
                    f"[{before.connected_at}, {before.disconnected_at}] overlaps "
                    f"{after.id} from {after.connected_at}"
                )
    return problems


def _quiet(manager: ClientManager, row: Instance) -> bool:
    slot = manager._slots.get(row.name)
    if slot is None:  # never touched since it was (re)created
        return row.status == "disconnected"
    if row.status in ("connecting", "reconnecting") or slot.status.value != row.status:
        return False
    if not slot.events.empty() or slot.lock.locked():
        return False
    live = slot.client
    if row.status == "pairing":
        # a scanned client is pairing until its device row is written and it goes online
        return isinstance(live, SimulatorClient) and live.pairing and not live._link.is_set()
    return True


async def settle(app: FastAPI, names: list[str], timeout: float = 10.0) -> dict[str, Instance]:
    """Wait until no instance is mid-transition and every queued engine event is handled."""
    manager = state_of(app).manager
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with state_of(app).db.session() as session:
            rows = {
                row.name: row
                for row in (await session.execute(select(Instance))).scalars()
                if row.name in names
            }
        engine = manager.engines["simulator"]
        assert isinstance(engine, SimulatorEngine)
        typing_codes = any(t.get_name().startswith("simulator-pair") for t in engine._background)
        if not typing_codes and all(_quiet(manager, row) for row in rows.values()):
            return rows
        if asyncio.get_running_loop().time() > deadline:
            seen = [(r.name, r.status, manager.status_of(r.name)) for r in rows.values()]
            raise AssertionError(f"never settled: {seen}")
        await asyncio.sleep(0.02)


async def test_concurrent_lifecycle_calls_keep_one_client_per_instance(  # noqa: C901
    client: httpx.AsyncClient, app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    state = state_of(app)
    manager = state.manager
    engine = manager.engines["simulator"]
    assert isinstance(engine, SimulatorEngine)
    clients = ClientLog(engine)
    rng = random.Random(20261128)
    names = [unique_name("hammer") for _ in range(INSTANCES)]
    for name in names:
        await create_instance(client, name=name)
    actions = ["connect"] * 4 + ["disconnect", "logout", "restart", "pair"] + ["scan"] * 3
    answers: dict[int, int] = defaultdict(int)
    for round_number in range(ROUNDS):
        calls = [
            (rng.choice(names), rng.choice([*actions, "delete"] if round_number % 2 else actions))
            for _ in range(CALLS_PER_ROUND)
        ]
        results = await asyncio.gather(*(call(client, name, action) for name, action in calls))
        for status in results:
            answers[status] += 1
        # deleted instances come back under the same name (a new row)
        for name in names:
            if (await client.get(f"/v1/instances/{name}")).status_code == 404:
                await create_instance(client, name=name)
        rows = await settle(app, names)

        assert await overlapping_connections(app) == [], f"round {round_number}"
        for name, row in rows.items():
            slot = manager._slots.get(name)
            running = clients.running(row.id)
            assert len(running) <= 1, (name, row.status, running)
            live = manager.live_client(name)
            assert (running[0] if running else None) is live, (name, row.status)
            if row.status in ("connected", "pairing"):
                assert isinstance(live, SimulatorClient)
                assert live.connected == (row.status == "connected")
                assert live.pairing == (row.status == "pairing")
            else:
                assert live is None, (name, row.status)
                assert slot is None or slot.reconnect_task is None
            assert (row.status == "connected") == (engine.clients.get(row.id) is live is not None)
            if row.status == "connected":
                assert row.jid and row.node == state.settings.node_id
            if row.status == "logged_out":
                assert row.jid is None
        # stale slots of deleted rows must be gone: every slot points at its current row
        for name, slot in manager._slots.items():
            if name in rows:
                assert slot.ref.id == rows[name].id
    # the mix really exercised the paths (not only 404s and 409s)
    assert answers[202] > 20 and answers[204] >= 3 and answers[200] > 10, dict(answers)
    # no engine event was refused (an impossible transition) and nothing else failed
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
    # every client the test ever made is stopped or is the one live client
    for instance_clients in clients.by_instance.values():
        assert sum(not c._stopped for c in instance_clients) <= 1
