"""The account routes in a cluster: a node that does not hold the instance forwards them to
the one that does, and the events they cause reach the streams of every node."""

from __future__ import annotations

from tests.conftest import linked_instance
from tests.integration.cluster.conftest import NodeFactory


async def test_account_routes_are_forwarded_to_the_holder(start_node: NodeFactory) -> None:
    api = await start_node(role="api")
    worker = await start_node()
    name = (await linked_instance(api.http))["name"]
    assert name in worker.held_names() and api.state.manager.live_client(name) is None
    base = f"/v1/instances/{name}"
    contact = "5511955554444"
    jid = f"{contact}@s.whatsapp.net"
    profile = await api.http.patch(f"{base}/profile", json={"name": "Acme"})
    assert profile.status_code == 200, profile.text
    assert (await api.http.get(f"{base}/profile")).json()["name"] == "Acme"
    blocked = await api.http.post(f"{base}/blocklist", json={"action": "block", "contact": jid})
    assert blocked.json() == {"contacts": [jid]}
    assert (await worker.http.get(f"{base}/blocklist")).json() == {"contacts": [jid]}
    card = (await api.http.get(f"{base}/contacts/{contact}")).json()
    assert (await api.http.get(f"{base}/lids/{card['lid']}")).json()["jid"] == jid
    await api.http.post(f"{base}/blocklist", json={"action": "unblock", "contact": jid})
    call = (await api.http.post(f"{base}/simulator/calls", json={"from": contact})).json()
    rejected = await api.http.post(f"{base}/calls/{call['call_id']}/reject")
    assert rejected.status_code == 204, rejected.text
    subscribed = await api.http.post(f"{base}/chats/{contact}/presence/subscribe")
    assert subscribed.status_code == 204
    seen = await api.http.post(
        f"{base}/simulator/presence", json={"from": contact, "state": "available"}
    )
    assert seen.json() == {"delivered": True}  # the subscription lives on the holder
