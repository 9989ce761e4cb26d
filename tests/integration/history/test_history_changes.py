"""A contact's edit and revoke reach the history: the stored message reads as edited, or
keeps its row without its words, and search follows (on both databases)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import linked_instance
from tests.support.polling import eventually

ALICE = "4915112345678"


async def test_a_contacts_edit_and_revoke_are_kept(client: httpx.AsyncClient) -> None:
    name = (await linked_instance(client))["name"]
    base = f"/v1/instances/{name}"
    ids = []
    for text in ("meet at noon", "a secret plan"):
        sent = await client.post(f"{base}/simulator/inbound", json={"from": ALICE, "text": text})
        assert sent.status_code in (200, 201), sent.text
        ids.append(sent.json()["message_id"])
    edit = await client.post(
        f"{base}/simulator/edit",
        json={"from": ALICE, "message_id": ids[0], "text": "meet at teatime"},
    )
    assert edit.status_code < 300, edit.text
    revoke = await client.post(
        f"{base}/simulator/revoke", json={"from": ALICE, "message_id": ids[1]}
    )
    assert revoke.status_code < 300, revoke.text

    async def message(message_id: str) -> dict[str, Any]:
        found = await client.get(f"{base}/chats/{ALICE}/messages/{message_id}")
        assert found.status_code == 200, found.text
        return dict(found.json())

    async def changed() -> tuple[dict[str, Any], dict[str, Any]] | None:
        edited, revoked = await message(ids[0]), await message(ids[1])
        return (edited, revoked) if edited["edited_text"] and revoked["revoked"] else None

    edited, revoked = await eventually(changed, timeout=10, what="the edit and the revoke kept")
    assert (edited["text"], edited["edited_text"]) == ("meet at noon", "meet at teatime")
    assert edited["edited_at"] is not None and not edited["revoked"]
    assert (revoked["text"], revoked["caption"], revoked["revoked_at"] is not None) == (
        None,
        None,
        True,
    )

    async def found(q: str) -> list[str]:
        answer = await client.get(f"{base}/messages/search", params={"q": q})
        assert answer.status_code == 200, answer.text
        return [m["message_id"] for m in answer.json()["messages"]]

    assert await found("teatime") == [ids[0]]
    assert await found("secret") == []


async def test_an_own_send_edited_and_revoked_through_the_api(client: httpx.AsyncClient) -> None:
    name = (await linked_instance(client))["name"]
    base = f"/v1/instances/{name}"
    ids = []
    for text in ("the price is 10", "wrong chat, sorry"):
        sent = await client.post(f"{base}/send/text", json={"to": ALICE, "text": text})
        assert sent.status_code == 200, sent.text
        ids.append((sent.json()["correlation_id"], sent.json()["message_id"]))

    async def message(message_id: str) -> dict[str, Any] | None:
        found = await client.get(f"{base}/chats/{ALICE}/messages/{message_id}")
        return dict(found.json()) if found.status_code == 200 else None

    async def both_kept() -> bool:
        return all([await message(message_id) for _, message_id in ids])

    await eventually(both_kept, timeout=10, what="both sends kept")
    edit = await client.patch(f"{base}/messages/{ids[0][0]}", json={"text": "the price is 12"})
    assert edit.status_code == 200, edit.text
    revoke = await client.delete(f"{base}/messages/{ids[1][0]}")
    assert revoke.status_code == 200, revoke.text

    edited = await message(ids[0][1])
    revoked = await message(ids[1][1])
    assert edited is not None and revoked is not None
    assert (edited["text"], edited["edited_text"]) == ("the price is 10", "the price is 12")
    assert revoked["revoked"] and revoked["text"] is None
