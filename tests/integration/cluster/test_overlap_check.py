"""The overlap check of the cluster tests does find overlaps (it is no check that can only pass)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from wagate.db import Database, utcnow
from wagate.models import Instance, SimulatorConnection

from .helpers import overlapping_connections

pytestmark = pytest.mark.postgres


async def test_overlaps_are_found(postgres_url: str) -> None:
    db = Database(postgres_url)
    t0 = utcnow() - timedelta(minutes=10)
    minute = timedelta(minutes=1)
    try:
        async with db.transaction() as session:
            one = Instance(name="one", engine="simulator", token_hash="h1", settings={})
            two = Instance(name="two", engine="simulator", token_hash="h2", settings={})
            session.add_all([one, two])
            await session.flush()
            session.add_all(
                [
                    # one: a [0, 5], b [1, 2] and c [3, open] both overlap a.
                    SimulatorConnection(
                        instance_id=one.id, node="a", connected_at=t0,
                        disconnected_at=t0 + 5 * minute,
                    ),
                    SimulatorConnection(
                        instance_id=one.id, node="b", connected_at=t0 + minute,
                        disconnected_at=t0 + 2 * minute,
                    ),
                    SimulatorConnection(
                        instance_id=one.id, node="c", connected_at=t0 + 3 * minute
                    ),
                    # two: a killed at 2 with its row left open, then b from 3: no overlap.
                    SimulatorConnection(instance_id=two.id, node="a", connected_at=t0),
                    SimulatorConnection(
                        instance_id=two.id, node="b", connected_at=t0 + 3 * minute
                    ),
                ]
            )  # fmt: skip
        found = await overlapping_connections(db, died={"a": t0 + 2 * minute})
        assert len(found) == 2 and all(item.startswith("one:") for item in found), found
        assert len(await overlapping_connections(db)) == 3  # a not known dead: open until now
    finally:
        await db.close()
