"""Group routes called on a node that does not hold the instance reach its holder."""

from __future__ import annotations

import pytest

from tests.conftest import linked_instance
from tests.integration.instance_helpers import Recorder
from tests.support.polling import eventually

from .conftest import NodeFactory

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

OTHER = "5511912345678"


async def test_group_routes_forward_to_the_holder(start_node: NodeFactory) -> None:
    api = await start_node(role="api")
    worker = await start_node()
    me = await linked_instance(api.http)
    name = me["name"]
    assert name in worker.held_names() and api.state.manager.live_client(name) is None
    base = f"/v1/instances/{name}/groups"
    created = await api.http.post(base, json={"subject": "Across", "participants": [OTHER]})
    assert created.status_code == 201, created.text
    jid = created.json()["jid"]
    listed = await api.http.get(base)
    assert [g["jid"] for g in listed.json()["groups"]] == [jid]
    changed = await api.http.patch(f"{base}/{jid}", json={"announce": True})
    assert changed.status_code == 200 and changed.json()["announce"] is True
    promote = {"action": "promote", "participants": [OTHER]}
    promoted = await api.http.post(f"{base}/{jid}/participants", json=promote)
    assert promoted.json()["results"][0]["ok"] is True
    link = await api.http.get(f"{base}/{jid}/invite")
    assert link.status_code == 200 and link.json()["code"]
    control = await api.http.post(
        f"/v1/instances/{name}/simulator/groups/{jid}/participants",
        json={"action": "demote", "participants": [OTHER]},
    )
    assert control.status_code == 200, control.text
    assert (await api.http.post(f"{base}/{jid}/leave")).status_code == 204
    gone = await api.http.get(f"{base}/{jid}")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "group_not_found"


async def test_members_on_two_nodes_hear_each_other(start_node: NodeFactory) -> None:
    """Two instances of one group held by different nodes: each change and message reaches
    the other member's node (through the simulator's group notices)."""
    first = await start_node()
    second = await start_node()
    names = [(await linked_instance(first.http))["name"] for _ in range(4)]

    async def on_both() -> bool:
        statuses = {
            i["name"]: i["status"]
            for i in (await first.http.get("/v1/instances")).json()["instances"]
        }
        placed = first.held_names() and second.held_names()
        return bool(placed) and all(statuses.get(n) == "connected" for n in names)

    await eventually(on_both, what="instances on both nodes, connected", timeout=20)
    a_name, b_name = sorted(first.held_names())[0], sorted(second.held_names())[0]
    a = (await first.http.get(f"/v1/instances/{a_name}")).json()
    b = (await first.http.get(f"/v1/instances/{b_name}")).json()
    async with Recorder(second.app, b["name"]) as seen:
        created = await first.http.post(
            f"/v1/instances/{a['name']}/groups",
            json={"subject": "Two nodes", "participants": [b["phone"]]},
        )
        assert created.status_code == 201, created.text
        jid = created.json()["jid"]
        added = await seen.wait_for(lambda e: e.event == "group_participants")
        assert added.data["group"] == jid and added.data["action"] == "added"
        assert added.data["actor"] == {"jid": a["jid"], "phone": a["phone"]}
        sent = await first.http.post(
            f"/v1/instances/{a['name']}/send/text", json={"to": jid, "text": "across"}
        )
        assert sent.status_code == 200, sent.text
        message = await seen.wait_for(lambda e: e.event == "message_received")
        assert message.data["text"] == "across" and message.data["group"] == jid
        assert message.data["participant"] == {"jid": a["jid"], "phone": a["phone"]}
