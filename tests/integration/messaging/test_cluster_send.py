"""Any node accepts a send for any instance: the holder's worker sends it, and a sync caller
on another node learns the outcome (the record is the seam, not in-process state)."""

from __future__ import annotations

import asyncio

from tests.conftest import linked_instance
from tests.integration.cluster.conftest import (  # noqa: F401 - fixtures used by name
    FAST,
    NodeFactory,
    key_prefix,
    start_node,
)
from tests.integration.messaging.conftest import FAST as MESSAGING_FAST

TO = "5511987654321"


async def test_send_through_the_node_that_does_not_hold_it(
    start_node: NodeFactory,  # noqa: F811
    key_prefix: str,  # noqa: F811
) -> None:
    overrides = {**MESSAGING_FAST, "queue_key_prefix": key_prefix + "q:"}
    a = await start_node(**overrides)
    b = await start_node(**overrides)
    created = await linked_instance(a.http)
    name = created["name"]
    holder, other = (a, b) if name in a.held_names() else (b, a)
    assert name not in other.held_names()

    response = await other.http.post(
        f"/v1/instances/{name}/send/text", json={"to": TO, "text": "s"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "sent"

    queued = await other.http.post(
        f"/v1/instances/{name}/send/text?async=true", json={"to": TO, "text": "a"}
    )
    assert queued.status_code == 202
    location = queued.headers["location"]
    for _ in range(200):
        record = (await holder.http.get(location)).json()
        if record["status"] in {"sent", "delivered", "read"}:
            break
        await asyncio.sleep(0.05)
    assert record["status"] in {"sent", "delivered", "read"}
    outbox = (await holder.http.get(f"/v1/instances/{name}/simulator/outbox")).json()["messages"]
    assert [m["body"]["text"] for m in outbox] == ["s", "a"]
