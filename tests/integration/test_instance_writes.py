"""Many instance writes in one transaction (a group commit of status writes): one statement
per run of writes of the same columns, applied in their order, on both databases."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from tests.conftest import create_instance
from wagate.engines.ownership import LocalOwnership
from wagate.models import Instance
from wagate.repository.instances import same_columns


def test_runs_keep_the_order_and_group_only_neighbours() -> None:
    writes: list[tuple[int, dict[str, Any]]] = [
        (1, {"status": "connecting"}),
        (2, {"status": "connecting"}),
        (1, {"status": "connected", "jid": "x"}),
        (2, {"status": "connecting"}),
    ]
    assert same_columns(writes) == [writes[:2], writes[2:3], writes[3:]]
    assert same_columns([]) == []


async def test_a_batch_of_writes_lands_in_order(app: FastAPI, client: httpx.AsyncClient) -> None:
    db = app.state.wagate.db
    names = [(await create_instance(client))["name"] for _ in range(3)]
    async with db.session() as session:
        ids = {
            row.name: row.id
            for row in (await session.scalars(select(Instance).where(Instance.name.in_(names))))
        }
    a, b, c = (ids[name] for name in names)
    writes: list[tuple[int, dict[str, Any]]] = [
        (a, {"status": "connecting", "node": "n1"}),
        (b, {"status": "connecting", "node": "n1"}),
        (a, {"status": "connected", "jid": "1@s.whatsapp.net", "last_error": None}),
        (c, {"desired_state": "connected"}),
        (b, {"status": "connecting", "node": "n1"}),
        (b, {"status": "disconnected", "last_error": "stopped"}),
        (a, {"status": "disconnected", "last_error": "node_stopping"}),
    ]
    async with db.transaction() as session:
        assert await LocalOwnership().write_many(session, writes) == [True] * len(writes)
    async with db.session() as session:
        rows = {
            r.id: r
            for r in await session.scalars(select(Instance).where(Instance.id.in_([a, b, c])))
        }
    assert (rows[a].status, rows[a].jid, rows[a].last_error, rows[a].node) == (
        "disconnected",
        "1@s.whatsapp.net",
        "node_stopping",
        "n1",
    )
    assert (rows[b].status, rows[b].last_error) == ("disconnected", "stopped")
    assert (rows[c].status, rows[c].desired_state) == ("disconnected", "connected")
