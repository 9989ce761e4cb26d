"""A receipt that comes before the write recording its send (the simulator answering at once
here; a phone on a busy node) is kept on the send record all the same: the node remembers a
send from the moment its engine answered."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from tests.conftest import linked_instance
from tests.integration.messaging.conftest import FAST, send_texts, wait_message
from wagate.models import Message

TO = "5511987654321"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {**FAST, "simulator_receipt_delay_ms": 0}


async def test_receipts_before_the_outcome_write_are_kept(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    name = (await linked_instance(client))["name"]
    ids = await send_texts(client, name, 5, TO)
    for correlation_id in ids:
        await wait_message(client, name, correlation_id, {"read"})
    async with app.state.wagate.db.session() as session:
        rows = (
            await session.execute(
                select(Message.status, Message.delivered_at, Message.read_at).where(
                    Message.correlation_id.in_(ids)
                )
            )
        ).all()
    assert len(rows) == 5
    assert all(status == "sent" and delivered and read for status, delivered, read in rows)
