"""Group routes called on a node that does not hold the instance reach its holder."""

from __future__ import annotations

import pytest

from tests.conftest import linked_instance

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
