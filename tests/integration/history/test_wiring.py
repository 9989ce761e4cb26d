"""The history follows what happens to its messages, on both databases: edits and revokes
(from a contact, from the phone, through the API), received media served from its reference,
chat settings and reading a chat."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from tests.conftest import linked_instance
from tests.integration.history.test_history import handler_of, instance_pk, stored
from tests.integration.messaging.conftest import b64, png_bytes, wait_message
from tests.support.polling import eventually
from wagate.engines.base import InstanceRef, MessageEdited, MessageRevoked

TO = "5511987654321"
ALICE = "4915112345678"
ALICE_JID = f"{ALICE}@s.whatsapp.net"


async def received(client: httpx.AsyncClient, name: str, **body: Any) -> dict[str, Any]:
    """A message from Alice, once the history has it."""
    base = f"/v1/instances/{name}"
    answer = await client.post(f"{base}/simulator/inbound", json={"from": ALICE, **body})
    assert answer.status_code == 200, answer.text
    message_id = answer.json()["message_id"]

    async def kept() -> dict[str, Any] | None:
        found = await client.get(f"{base}/chats/{ALICE}/messages/{message_id}")
        if found.status_code != 200:
            return None
        row = dict(found.json())
        return row if body.get("media") is None or (row["media"] or {}).get("key") else None

    return await eventually(kept, timeout=10, what="the message in the history")


async def in_history(client: httpx.AsyncClient, base: str, chat: str, message_id: str) -> None:
    """Until the sender has kept its send in the history (it group-commits after the send)."""

    async def kept() -> bool:
        found = await client.get(f"{base}/chats/{chat}/messages/{message_id}")
        return found.status_code == 200

    await eventually(kept, timeout=10, what="the send in the history")


async def test_edits_and_revokes_mark_the_history(client: httpx.AsyncClient, app: FastAPI) -> None:
    name = (await linked_instance(client))["name"]
    base = f"/v1/instances/{name}"
    # A contact edits, then revokes, a message it sent.
    first = await received(client, name, text="see you at 8")
    edit = {"from": ALICE, "message_id": first["message_id"], "text": "see you at 9"}
    assert (await client.post(f"{base}/simulator/edit", json=edit)).status_code == 204

    async def message(message_id: str, chat: str = ALICE) -> dict[str, Any]:
        return dict((await client.get(f"{base}/chats/{chat}/messages/{message_id}")).json())

    async def edited() -> dict[str, Any] | None:
        row = await message(first["message_id"])
        return row if row["edited_text"] else None

    row = await eventually(edited, timeout=10, what="the edit in the history")
    assert row["edited_text"] == "see you at 9" and row["text"] == "see you at 8"
    assert row["edited_at"] is not None and not row["revoked"]
    revoke = {"from": ALICE, "message_id": first["message_id"]}
    assert (await client.post(f"{base}/simulator/revoke", json=revoke)).status_code == 204

    async def revoked() -> dict[str, Any] | None:
        row = await message(first["message_id"])
        return row if row["revoked"] else None

    row = await eventually(revoked, timeout=10, what="the revoke in the history")
    assert row["text"] is None and row["edited_text"] is None and row["revoked_at"]
    # Through the API: the send's record and its history row change together.
    sent = await client.post(f"{base}/send/text", json={"to": TO, "text": "draft"})
    correlation_id = sent.json()["correlation_id"]
    record = await wait_message(client, name, correlation_id, {"sent", "delivered", "read"})
    await in_history(client, base, TO, record["message_id"])
    patched = await client.patch(f"{base}/messages/{correlation_id}", json={"text": "final"})
    assert patched.status_code == 200, patched.text
    row = await message(record["message_id"], TO)
    assert row["edited_text"] == "final" and row["correlation_id"] == correlation_id
    assert (await client.delete(f"{base}/messages/{correlation_id}")).status_code == 200
    row = await message(record["message_id"], TO)
    assert row["revoked"] and row["text"] is None
    # From the phone: the engine reports this account's own change.
    ref = InstanceRef(await instance_pk(app, name), name)
    second = await received(client, name, text="one more")
    now = datetime.now(UTC)
    own = await client.post(f"{base}/send/text", json={"to": ALICE, "text": "typo"})
    own_record = await wait_message(
        client, name, own.json()["correlation_id"], {"sent", "delivered", "read"}
    )
    await in_history(client, base, ALICE, own_record["message_id"])
    handler = handler_of(app)
    me = "me@s.whatsapp.net"
    change = MessageEdited(own_record["message_id"], ALICE_JID, me, True, "fixed", now)
    await handler.on_change(ref, change)
    assert (await message(own_record["message_id"]))["edited_text"] == "fixed"
    await handler.on_change(ref, MessageRevoked(second["message_id"], ALICE_JID, me, True, now))
    assert (await message(second["message_id"]))["revoked"]
    # A change to a message the history does not have changes nothing, and fails nothing.
    await handler.on_change(ref, MessageRevoked("UNKNOWN", ALICE_JID, me, True, now))
    assert len(await stored(client, name, ALICE)) == 3


async def test_received_media_is_served_from_the_history(client: httpx.AsyncClient) -> None:
    name = (await linked_instance(client))["name"]
    image = png_bytes()
    media = {"base64": b64(image), "mimetype": "image/png"}
    row = await received(client, name, kind="image", media=media, caption="the view")
    reference = row["media"]
    assert reference["mimetype"] == "image/png" and reference["size"] == len(image)
    assert reference["key"] and reference["url"] == (
        f"/v1/instances/{name}/media/{row['message_id']}"
    )
    served = await client.get(reference["url"])
    assert served.status_code == 200 and served.content == image
    assert served.headers["content-type"] == "image/png"


async def test_chat_settings_and_reading_show_in_the_chat_list(client: httpx.AsyncClient) -> None:
    name = (await linked_instance(client))["name"]
    base = f"/v1/instances/{name}"
    await received(client, name, text="one")
    await received(client, name, text="two")

    async def chat() -> dict[str, Any]:
        listed = (await client.get(f"{base}/chats")).json()["chats"]
        return next(c for c in listed if c["jid"] == ALICE_JID)

    assert (await chat())["unread"] == 2
    until = (datetime.now(UTC) + timedelta(hours=8)).replace(microsecond=0)
    patch = {"archived": True, "pinned": True, "muted_until": until.isoformat()}
    assert (await client.patch(f"{base}/chats/{ALICE}", json=patch)).status_code == 204
    shown = await chat()
    assert shown["archived"] and shown["pinned"]
    assert datetime.fromisoformat(shown["muted_until"]) == until
    # A field left out stays; null unmutes.
    patch = {"archived": False, "muted_until": None}
    assert (await client.patch(f"{base}/chats/{ALICE}", json=patch)).status_code == 204
    shown = await chat()
    assert not shown["archived"] and shown["pinned"] and shown["muted_until"] is None
    # Settings of a chat without messages yet make the chat.
    assert (await client.patch(f"{base}/chats/{TO}", json={"pinned": True})).status_code == 204
    assert (await client.get(f"{base}/chats/{TO}")).json()["pinned"] is True
    # Reading the chat (its newest message) leaves nothing unread.
    newest = (await stored(client, name, ALICE))[0]["message_id"]
    read = await client.post(f"{base}/chats/{ALICE}/messages/{newest}/read")
    assert read.status_code == 204, read.text
    assert (await chat())["unread"] == 0
    # Bad input changes nothing: 422 naming the field.
    bad = await client.patch(f"{base}/chats/{ALICE}", json={"pinned": "maybe"})
    assert bad.status_code == 422
    assert (await chat())["pinned"] is True
