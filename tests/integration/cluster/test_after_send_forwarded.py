"""The changes after the send called on a node that does not hold the instance: forwarded to
the holder (the routes are marked @on_holder), with the same answers and records."""

from __future__ import annotations

import pytest

from tests.conftest import linked_instance

from .conftest import NodeFactory

pytestmark = [pytest.mark.postgres, pytest.mark.redis]
TO = "5511987654321"


async def test_edit_forward_react_vote_revoke_through_an_api_node(
    start_node: NodeFactory,
) -> None:
    api = await start_node(role="api")
    worker = await start_node()
    name = (await linked_instance(api.http))["name"]
    assert api.held_names() == set() and name in worker.held_names()
    sent = await api.http.post(f"/v1/instances/{name}/send/text", json={"to": TO, "text": "hi"})
    assert sent.status_code == 200, sent.text
    message = sent.json()
    record = f"/v1/instances/{name}/messages/{message['correlation_id']}"
    edited = await api.http.patch(record, json={"text": "hi!"})
    assert edited.status_code == 200, edited.text
    assert edited.json()["edited_text"] == "hi!"
    chat = f"/v1/instances/{name}/chats/{TO}/messages/{message['message_id']}"
    forwarded = await api.http.post(chat + "/forward", json={"to": "4915112345678"})
    assert forwarded.status_code == 200, forwarded.text
    assert (await api.http.post(chat + "/react", json={"emoji": "👍"})).status_code == 200
    assert (await api.http.post(chat + "/pin", json={})).status_code == 200
    assert (await api.http.post(chat + "/read")).status_code == 204
    missing = await api.http.post(
        f"/v1/instances/{name}/chats/{TO}/messages/NOPE/react", json={"emoji": "x"}
    )
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "message_not_found"
    revoked = await api.http.delete(record)
    assert revoked.status_code == 200 and revoked.json()["revoked_for"] == "everyone"
    shown = (await api.http.get(record)).json()
    assert shown["edited_text"] == "hi!" and shown["revoked"] is True
    assert [f["to"] for f in shown["forwards"]] == ["4915112345678@s.whatsapp.net"]
    outbox = (await api.http.get(f"/v1/instances/{name}/simulator/outbox")).json()["messages"]
    kinds = [item["kind"] for item in outbox]
    assert kinds == ["text", "edit", "forward", "reaction", "pin", "revoke"]
