"""The history store on both databases: every message lands once, whatever way it came; the
chat, message, search and contact routes; paging while messages arrive; retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from tests.conftest import linked_instance
from tests.integration.messaging.conftest import b64, png_bytes, wait_message
from tests.support.polling import eventually
from wagate.engines.base import InboundMessage, InstanceRef, Receipt
from wagate.history.repository import store
from wagate.history.retention import HistoryRetention
from wagate.instances import repository
from wagate.messages.inbound import InboundHandler

TO = "5511987654321"
TO_JID = f"{TO}@s.whatsapp.net"
ALICE = "4915112345678"
ALICE_JID = f"{ALICE}@s.whatsapp.net"
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


async def _kept_status(app: FastAPI, instance_id: int, message_id: str) -> str | None:
    """The status column of a kept row, as stored."""
    c = store.CHAT_MESSAGES.c
    async with app.state.wagate.db.session() as session:
        found = await session.execute(
            select(c.status).where(c.instance_id == instance_id, c.message_id == message_id)
        )
        status: str | None = found.scalar()
    return status


def handler_of(app: FastAPI) -> Any:
    """The app's own inbound hook (the one the engines' messages go through)."""
    hooks = app.state.wagate.manager._message_hooks
    return next(hook for hook in hooks if isinstance(hook, InboundHandler))


async def stored(client: httpx.AsyncClient, name: str, chat: str) -> list[dict[str, Any]]:
    page = await client.get(f"/v1/instances/{name}/chats/{chat}/messages", params={"limit": 500})
    assert page.status_code == 200, page.text
    messages: list[dict[str, Any]] = page.json()["messages"]
    return messages


async def test_every_direction_lands_once(client: httpx.AsyncClient, app: FastAPI) -> None:
    name = (await linked_instance(client))["name"]
    ref = InstanceRef(await instance_pk(app, name), name)
    handler = handler_of(app)
    base = f"/v1/instances/{name}"
    # Sent through wagate: one row, linked to its record, moved forward by the receipts.
    sent = await client.post(f"{base}/send/text", json={"to": TO, "text": "hello from wagate"})
    correlation_id = sent.json()["correlation_id"]
    record = await wait_message(client, name, correlation_id, {"read"})
    message_id = record["message_id"]

    async def read_in_store() -> list[dict[str, Any]] | None:
        rows = await stored(client, name, TO)
        return rows if rows and rows[0]["status"] == "read" else None

    rows = await eventually(read_in_store, timeout=10, what="receipts in the store")
    assert len(rows) == 1 and rows[0]["correlation_id"] == correlation_id
    assert rows[0]["from_me"] and rows[0]["text"] == "hello from wagate"
    # Its echo (as another linked device sees it), a late receipt: still one row, still read.
    echo = InboundMessage(message_id, TO_JID, "me@s.whatsapp.net", True, T0, "text", text="x")
    await handler.on_message(ref, echo)
    late = Receipt((message_id,), TO_JID, "delivered", T0)
    await handler.on_receipt(ref, late)
    rows = await stored(client, name, TO)
    assert [(r["message_id"], r["status"], r["correlation_id"]) for r in rows] == [
        (message_id, "read", correlation_id)
    ]
    # The receipts are kept on the send record, which the history reads: the row itself
    # stays as written, and the single message and the search show the same.
    kept_row = await _kept_status(app, ref.id, message_id)
    assert kept_row == "sent"
    one = await client.get(f"{base}/chats/{TO}/messages/{message_id}")
    assert one.json()["status"] == "read"
    found = await client.get(f"{base}/messages/search", params={"q": "hello from"})
    assert [m["status"] for m in found.json()["messages"]] == ["read"]
    # What a record does not hold moves the row: a voice note heard is "played", past read.
    await handler.on_receipt(ref, Receipt((message_id,), TO_JID, "played", T0))
    assert (await stored(client, name, TO))[0]["status"] == "played"
    assert (await wait_message(client, name, correlation_id, {"read"}))["status"] == "read"
    # Received, then delivered again by the engine: one row, counted unread once.
    received = await client.post(
        f"{base}/simulator/inbound", json={"from": ALICE, "text": "hi there", "push_name": "Alice"}
    )
    incoming_id = received.json()["message_id"]

    async def kept() -> dict[str, Any] | None:
        found = await client.get(f"{base}/chats/{ALICE}/messages/{incoming_id}")
        return dict(found.json()) if found.status_code == 200 else None

    row = await eventually(kept, timeout=10, what="the inbound message kept")
    again = InboundMessage(
        incoming_id, ALICE_JID, ALICE_JID, False, datetime.fromisoformat(row["timestamp"]), "text"
    )
    await handler.on_message(ref, again)
    chat = (await client.get(f"{base}/chats/{ALICE}")).json()
    assert chat["unread"] == 1 and chat["name"] == "Alice" and chat["kind"] == "direct"
    assert chat["last_message"]["message_id"] == incoming_id
    # Sent from the phone: kept as one's own, and the chat counts as read.
    phone = InboundMessage(
        "PHONE1", ALICE_JID, "me@s.whatsapp.net", True, datetime.now(UTC), "text", text="ok"
    )
    await handler.on_message(ref, phone)
    await handler.on_message(ref, phone)
    rows = await stored(client, name, ALICE)
    assert [(r["message_id"], r["from_me"]) for r in rows] == [
        ("PHONE1", True),
        (incoming_id, False),
    ]
    chat = (await client.get(f"{base}/chats/{ALICE}")).json()
    assert chat["unread"] == 0 and chat["last_message"]["text"] == "ok"
    # A reaction lands on the message it names, not as a message of its own.
    await client.post(
        f"{base}/simulator/inbound",
        json={"from": ALICE, "kind": "reaction", "message_id": "PHONE1", "emoji": "👍"},
    )

    async def reacted() -> dict[str, Any] | None:
        found = (await client.get(f"{base}/chats/{ALICE}/messages/PHONE1")).json()
        return dict(found["reactions"]) if found["reactions"] else None

    assert await eventually(reacted, timeout=10, what="the reaction") == {ALICE_JID: "👍"}
    assert len(await stored(client, name, ALICE)) == 2
    listed = (await client.get(f"{base}/chats")).json()["chats"]
    assert [c["jid"] for c in listed] == [ALICE_JID, TO_JID]
    # Every time of the API is written in UTC with a Z, the last message's too.
    for listed_chat in listed:
        assert listed_chat["last_message_at"].endswith("Z")
        assert listed_chat["last_message"]["timestamp"].endswith("Z")
        assert listed_chat["last_message"]["timestamp"] == listed_chat["last_message_at"]
    contacts = (await client.get(f"{base}/contacts")).json()["contacts"]
    assert [(c["jid"], c["push_name"]) for c in contacts] == [(ALICE_JID, "Alice")]


async def instance_pk(app: FastAPI, name: str) -> int:
    async with app.state.wagate.db.session() as session:
        row = await repository.get_by_name(session, name)
    assert row is not None
    return int(row.id)


async def keep(app: FastAPI, rows: list[dict[str, Any]]) -> None:
    async with app.state.wagate.db.transaction() as session:
        await store.write_inbound(session, rows, {})


def inbound(pk: int, message_id: str, at: datetime, text: str | None = None, **more: Any) -> Any:
    message = InboundMessage(
        message_id, more.pop("chat", ALICE_JID), ALICE_JID, False, at, "text", text=text, **more
    )
    return store.inbound_row(pk, message)


async def test_paging_neither_skips_nor_repeats(client: httpx.AsyncClient, app: FastAPI) -> None:
    name = (await linked_instance(client))["name"]
    pk = await instance_pk(app, name)
    # Pairs share a timestamp: the id breaks the tie.
    await keep(app, [inbound(pk, f"M{i:03}", T0 + timedelta(seconds=i // 2)) for i in range(40)])
    url = f"/v1/instances/{name}/chats/{ALICE}/messages"
    seen: list[str] = []
    before = None
    newest_cursor = None
    arrived = 0
    while True:
        params: dict[str, Any] = {"limit": 7, **({"before": before} if before else {})}
        page = (await client.get(url, params=params)).json()
        newest_cursor = newest_cursor or page["after"]
        seen.extend(m["message_id"] for m in page["messages"])
        # New messages arrive between pages, at the head of the chat.
        await keep(app, [inbound(pk, f"N{arrived}", T0 + timedelta(days=1, seconds=arrived))])
        arrived += 1
        before = page["before"]
        if before is None:
            break
    assert seen == [f"M{i:03}" for i in reversed(range(40))]
    # Forward from the newest seen: exactly what arrived meanwhile, oldest first.
    forward: list[str] = []
    after = newest_cursor
    while True:
        page = (await client.get(url, params={"limit": 2, "after": after})).json()
        forward.extend(m["message_id"] for m in page["messages"])
        if not page["messages"]:
            break
        after = page["after"]
    assert forward == [f"N{i}" for i in range(arrived)]
    # Filters: direction, kind, time.
    outgoing = (await client.get(url, params={"direction": "out"})).json()["messages"]
    assert outgoing == []
    window = {
        "since": (T0 + timedelta(seconds=5)).isoformat(),
        "until": (T0 + timedelta(seconds=7)).isoformat(),
    }
    found = (await client.get(url, params=window)).json()["messages"]
    assert [m["message_id"] for m in found] == ["M013", "M012", "M011", "M010"]
    assert (await client.get(url, params={"kind": "image"})).json()["messages"] == []


SEARCH_SET = [
    ("S1", "Hello world, the meeting is at noon", None),
    ("S2", "hello again", None),
    ("S3", None, "holiday photo from the beach"),
    ("S4", "Café com leite às oito", None),
    ("S5", "nothing to see", None),
    ("S6", "helicopter ride tomorrow", None),
]
SEARCHES = {
    "hello": ["S2", "S1"],
    "HELLO world": ["S1"],
    "hel": ["S6", "S2", "S1"],
    "beach": ["S3"],
    "café": ["S4"],
    "oito": ["S4"],
    "cafe": [],
    "edited": ["S5"],
    "nothing": [],
    "revoked": [],
}


async def test_search_same_results_on_both_databases(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    name = (await linked_instance(client))["name"]
    pk = await instance_pk(app, name)
    rows = [
        inbound(pk, mid, T0 + timedelta(minutes=i), text, caption=caption)
        for i, (mid, text, caption) in enumerate(SEARCH_SET)
    ]
    rows.append(inbound(pk, "S7", T0, "revoked words", chat=TO_JID))
    await keep(app, rows)
    async with app.state.wagate.db.transaction() as session:
        assert await store.mark_edited(session, pk, "S5", "edited words", T0)
        assert await store.mark_revoked(session, pk, "S7", T0)
    url = f"/v1/instances/{name}/messages/search"
    for query, expected in SEARCHES.items():
        found = (await client.get(url, params={"q": query})).json()["messages"]
        assert [m["message_id"] for m in found] == expected, query
    first = (await client.get(url, params={"q": "hel", "limit": 2})).json()
    rest = (await client.get(url, params={"q": "hel", "before": first["next_cursor"]})).json()
    assert [m["message_id"] for m in first["messages"] + rest["messages"]] == ["S6", "S2", "S1"]
    assert rest["next_cursor"] is None
    other_chat = (await client.get(url, params={"q": "hello", "chat": TO})).json()
    assert other_chat["messages"] == []


async def test_retention(client: httpx.AsyncClient, app: FastAPI) -> None:
    name = (await linked_instance(client))["name"]
    pk = await instance_pk(app, name)
    now = datetime.now(UTC)
    await keep(
        app,
        [
            inbound(pk, "OLD", now - timedelta(days=91)),
            inbound(pk, "RECENT", now - timedelta(days=1)),
        ],
    )
    own = store.OwnSend(pk, ALICE_JID, "OWN", "text", {"text": "x"}, now - timedelta(days=1), "c1")
    async with app.state.wagate.db.autocommit() as connection:
        await store.write_sent(connection, [own])
    retention = HistoryRetention(app.state.wagate.db)
    assert await retention.run_once() == 1
    left = await stored(client, name, ALICE)
    assert {m["message_id"] for m in left} == {"RECENT", "OWN"}
    patched = await client.patch(
        f"/v1/instances/{name}", json={"settings": {"history_retention_days": 0}}
    )
    assert patched.status_code == 200
    assert await retention.run_once() == 1
    assert [m["message_id"] for m in await stored(client, name, ALICE)] == ["OWN"]
    chat = (await client.get(f"/v1/instances/{name}/chats/{ALICE}")).json()
    assert chat["jid"] == ALICE_JID  # the chat stays


async def test_bad_input_and_unknowns(client: httpx.AsyncClient) -> None:
    name = (await linked_instance(client))["name"]
    base = f"/v1/instances/{name}"
    bad = [
        ("/chats", {"limit": 0}),
        ("/chats", {"before": "x"}),
        ("/chats/not-a-number", {}),
        (f"/chats/{ALICE}/messages", {"before": "1.2", "after": "1.3"}),
        (f"/chats/{ALICE}/messages", {"after": "99999999999999999999.1"}),
        (f"/chats/{ALICE}/messages", {"direction": "sideways"}),
        (f"/chats/{ALICE}/messages", {"kind": "DROP TABLE"}),
        (f"/chats/{ALICE}/messages", {"since": "yesterday"}),
        (f"/chats/{ALICE}/messages", {"limit": 501}),
        ("/messages/search", {}),
        ("/messages/search", {"q": "!!!"}),
        ("/messages/search", {"q": "x", "chat": "bad@jid.example"}),
        ("/contacts", {"limit": 0}),
    ]
    for path, params in bad:
        response = await client.get(base + path, params=params)
        assert response.status_code == 422, (path, params, response.text)
        assert response.json()["error"]["code"] == "validation_error"
    assert (await client.get(f"{base}/chats/{ALICE}")).status_code == 404
    assert (await client.get(f"{base}/chats/{ALICE}/messages/NOPE")).status_code == 404
    assert (await client.get(f"{base}/chats/{ALICE}/messages")).json()["messages"] == []
    assert (await client.get("/v1/instances/nobody/chats")).status_code == 404


async def test_own_sends_of_other_kinds_keep_their_content(client: httpx.AsyncClient) -> None:
    name = (await linked_instance(client))["name"]
    base = f"/v1/instances/{name}"
    image = await client.post(
        f"{base}/send/image",
        json={
            "to": TO,
            "media": {"base64": b64(png_bytes()), "mimetype": "image/png"},
            "caption": "our menu",
        },
    )
    assert image.status_code == 200, image.text
    place = await client.post(
        f"{base}/send/location", json={"to": TO, "latitude": -23.5, "longitude": -46.6}
    )
    assert place.status_code == 200, place.text

    async def both() -> list[dict[str, Any]] | None:
        rows = await stored(client, name, TO)
        return rows if len(rows) == 2 else None

    rows = await eventually(both, timeout=10, what="both sends kept")
    kinds = {row["kind"]: row for row in rows}
    assert kinds["image"]["caption"] == "our menu"
    assert kinds["image"]["media"]["mimetype"] == "image/png"
    assert kinds["location"]["extra"]["latitude"] == -23.5
    found = (await client.get(f"{base}/messages/search", params={"q": "menu"})).json()
    assert [m["kind"] for m in found["messages"]] == ["image"]


async def test_own_reactions_and_chat_state(client: httpx.AsyncClient, app: FastAPI) -> None:
    name = (await linked_instance(client))["name"]
    pk = await instance_pk(app, name)
    base = f"/v1/instances/{name}"
    await keep(app, [inbound(pk, "THEIRS", T0, "a question")])
    sent = await client.post(
        f"{base}/send/reaction", json={"to": ALICE, "message_id": "THEIRS", "emoji": "🙏"}
    )
    assert sent.status_code == 200, sent.text

    async def reacted() -> dict[str, Any] | None:
        found = (await client.get(f"{base}/chats/{ALICE}/messages/THEIRS")).json()
        return dict(found["reactions"]) if found["reactions"] else None

    assert await eventually(reacted, timeout=10, what="own reaction") == {"me": "🙏"}
    assert [m["message_id"] for m in await stored(client, name, ALICE)] == ["THEIRS"]
    # The chat's state, as the chat settings write it: a chat with no message yet is made.
    until = datetime(2027, 1, 1, tzinfo=UTC)
    async with app.state.wagate.db.transaction() as session:
        await store.set_chat_state(session, pk, ALICE_JID, {"pinned": True})
        await store.set_chat_state(session, pk, TO_JID, {"archived": True, "muted_until": until})
    alice = (await client.get(f"{base}/chats/{ALICE}")).json()
    assert alice["pinned"] and not alice["archived"] and alice["last_message"]["text"]
    other = (await client.get(f"{base}/chats/{TO}")).json()
    assert other["archived"] and other["last_message"] is None
    assert datetime.fromisoformat(other["muted_until"]) == until
    # A message later: the summary comes, the state stays.
    await keep(app, [inbound(pk, "LATER", T0, "hi", chat=TO_JID)])
    other = (await client.get(f"{base}/chats/{TO}")).json()
    assert other["archived"] and other["last_message"]["message_id"] == "LATER"


async def test_chat_and_contact_pages(client: httpx.AsyncClient, app: FastAPI) -> None:
    name = (await linked_instance(client))["name"]
    pk = await instance_pk(app, name)
    chats = [f"49151000000{i:02d}@s.whatsapp.net" for i in range(7)]
    async with app.state.wagate.db.transaction() as session:
        for i, chat in enumerate(chats):
            message = InboundMessage(
                f"C{i}", chat, chat, False, T0 + timedelta(minutes=i), "text", text="hi"
            )
            await store.write_inbound(
                session, [store.inbound_row(pk, message)], {(pk, chat): f"Person {i}"}
            )
    base = f"/v1/instances/{name}"
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"before": cursor} if cursor else {})}
        page = (await client.get(f"{base}/chats", params=params)).json()
        seen.extend(chat["jid"] for chat in page["chats"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(chats))
    names: list[tuple[str, str]] = []
    after = None
    while True:
        params = {"limit": 4, **({"after": after} if after else {})}
        page = (await client.get(f"{base}/contacts", params=params)).json()
        names.extend((c["jid"], c["push_name"]) for c in page["contacts"])
        after = page["next_cursor"]
        if after is None:
            break
    assert names == [(chat, f"Person {i}") for i, chat in enumerate(chats)]
    # A voice note heard: "played", past read.
    handler = handler_of(app)
    ref = InstanceRef(pk, name)
    own = store.OwnSend(pk, chats[0], "VOICE", "audio", {}, T0, "c-voice")
    async with app.state.wagate.db.transaction() as session:
        await store.write_sent(session, [own])
    for status in ("read", "played", "delivered"):
        await handler.on_receipt(ref, Receipt(("VOICE",), chats[0], status, T0))
    voice = (await client.get(f"{base}/chats/{chats[0]}/messages/VOICE")).json()
    assert voice["status"] == "played"
