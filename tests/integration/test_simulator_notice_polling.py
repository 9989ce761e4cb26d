"""Simulator group notices (engines/simulator/relay.py) are read only by a node that connects
instances: an API node has none addressed to it, and does not poll for them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import make_settings
from wagate.db import Database
from wagate.engines.simulator.engine import SimulatorEngine


@pytest.mark.parametrize(("role", "polls"), [("all", True), ("api", False)])
async def test_only_a_node_that_holds_instances_polls_its_notices(
    database_url: str, tmp_path: Path, role: str, polls: bool
) -> None:
    settings = make_settings(
        database_url, tmp_path, redis_url="redis://127.0.0.1:1/0", role=role, engine="simulator"
    )
    db = Database(settings.effective_database_url)
    engine = SimulatorEngine(settings, db)
    try:
        await engine.open()
        assert engine.relay is not None  # either node writes the notices of its changes
        assert (engine.relay._task is not None) is polls
    finally:
        await engine.close()
        await db.close()
