"""A contact's edit and revoke reach the history: the stored message reads as edited, or
keeps its row without its words, and search follows; a change that arrives before its message
is kept applies when it lands (on both databases)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from tests.conftest import create_instance, linked_instance
from tests.integration.history.test_history import instance_pk
from tests.support.polling import eventually
from wagate.db import utcnow
from wagate.engines.base import InboundMessage
from wagate.history.repository import store
from wagate.history.retention import PENDING_FOR, HistoryRetention
from wagate.models import PendingMessageChange

ALICE = "4915112345678"
ALICE_JID = f"{ALICE}@s.whatsapp.net"


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

    async def message(message_id: str) -> dict[str, Any] | None:
        # Received messages are kept in the background: the change may come first.
        found = await client.get(f"{base}/chats/{ALICE}/messages/{message_id}")
        return dict(found.json()) if found.status_code == 200 else None

    async def changed() -> tuple[dict[str, Any], dict[str, Any]] | None:
        edited, revoked = await message(ids[0]), await message(ids[1])
        if edited is None or revoked is None:
            return None
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


async def test_a_change_before_its_message_is_kept_applies_when_it_lands(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """An edit or revoke that overtakes the batched write of its message (a send's history
    write, or a received message's) is applied when the row lands; one whose message never
    comes is forgotten after a while."""
    name = (await create_instance(client))["name"]
    pk = await instance_pk(app, name)
    db = app.state.wagate.db
    at = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
    async with db.transaction() as session:
        assert not await store.mark_edited(session, pk, "SENT1", "edited early", at)
        assert not await store.mark_revoked(session, pk, "RECV1", at)
        assert not await store.mark_edited(session, pk, "RECV1", "too late", at)
        assert not await store.mark_edited(session, pk, "NEVER", "never kept", at)
    send = store.OwnSend(pk, ALICE_JID, "SENT1", "text", {"text": "as sent"}, at, "corr-1")
    received = InboundMessage("RECV1", ALICE_JID, ALICE_JID, False, at, "text", text="oops")
    async with db.transaction() as session:
        await store.write_sent(session, [send])
        await store.write_inbound(session, [store.inbound_row(pk, received)], {})
    base = f"/v1/instances/{name}/chats/{ALICE}/messages"
    sent = (await client.get(f"{base}/SENT1")).json()
    assert (sent["text"], sent["edited_text"], sent["revoked"]) == (
        "as sent",
        "edited early",
        False,
    )
    assert sent["edited_at"] is not None
    revoked = (await client.get(f"{base}/RECV1")).json()
    assert (revoked["text"], revoked["edited_text"], revoked["revoked"]) == (None, None, True)
    # Applied once: the pending changes are gone, but the one whose message never came.
    async with db.session() as session:
        left = (await session.execute(select(PendingMessageChange.message_id))).scalars().all()
    assert left == ["NEVER"]
    await HistoryRetention(db).run_once(now=utcnow() + PENDING_FOR + timedelta(seconds=1))
    async with db.session() as session:
        assert (await session.execute(select(PendingMessageChange))).first() is None
    # A message that is kept already is changed at once, as before.
    async with db.transaction() as session:
        assert await store.mark_edited(session, pk, "SENT1", "edited again", at)
    assert (await client.get(f"{base}/SENT1")).json()["edited_text"] == "edited again"
