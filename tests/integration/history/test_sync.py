"""History sync on both databases: the history the phone sends after linking lands in the
store once (a history sent twice overlaps exactly), `history_sync` off imports nothing, recent
only the last N days; a history_sync event per part, the last one done."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import linked_instance
from tests.integration.history.test_history import stored
from wagate.engines.simulator.history import contact_of
from wagate.history.sync import HistoryImporter

# A linked device gets 3 chats of 9 messages, 10 days apart (the oldest 90 days old).
CHATS, MESSAGES, DAYS = 3, 9, 90


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {
        "simulator_history_chats": CHATS,
        "simulator_history_messages": MESSAGES,
        "simulator_history_days": DAYS,
    }


async def settle(app: FastAPI) -> None:
    """Until the import has written every part handed to it so far."""
    hooks = app.state.wagate.manager._history_hooks
    importer = next(hook for hook in hooks if isinstance(hook, HistoryImporter))
    for _ in range(50):  # the parts reach the importer through the instance's event queue
        await asyncio.sleep(0.02)
        await importer.drain()


async def all_stored(client: httpx.AsyncClient, name: str) -> dict[str, list[dict[str, Any]]]:
    return {contact_of(i): await stored(client, name, contact_of(i)) for i in range(CHATS)}


async def test_full_history_lands_once(
    client: httpx.AsyncClient, app: FastAPI, events_of: Any
) -> None:
    name = (await linked_instance(client, settings={"history_sync": "full"}))["name"]
    base = f"/v1/instances/{name}"
    await settle(app)
    kept = await all_stored(client, name)
    assert [len(rows) for rows in kept.values()] == [MESSAGES] * CHATS
    rows = kept[contact_of(0)]
    assert {row["from_me"] for row in rows} == {True, False}
    assert all(row["status"] in ("received", "sent") for row in rows)
    times = [datetime.fromisoformat(row["timestamp"]) for row in rows]
    assert times == sorted(times, reverse=True)  # newest first, as the route pages
    chats = (await client.get(f"{base}/chats")).json()["chats"]
    assert {chat["jid"] for chat in chats} == set(kept)
    # The phone's unread count, not a count of the rows: its last message is received.
    assert all(chat["unread"] in (0, 1) for chat in chats)
    contacts = (await client.get(f"{base}/contacts")).json()["contacts"]
    assert {contact["jid"] for contact in contacts} == set(kept)
    # Sent again (overlapping the first completely): nothing new, the events say so.
    seen = events_of(app, name)
    await asyncio.sleep(0.05)
    again = await client.post(f"{base}/simulator/history", json={})
    assert again.status_code == 200, again.text
    assert len(again.json()["message_ids"]) == CHATS * MESSAGES
    await settle(app)
    assert [len(rows) for rows in (await all_stored(client, name)).values()] == [MESSAGES] * CHATS
    for _ in range(200):
        parts = [event.data for event in seen if event.event == "history_sync"]
        if parts and parts[-1]["done"]:
            break
        await asyncio.sleep(0.02)
    assert [part["messages"] for part in parts] == [0, 0]
    assert sum(part["skipped"] for part in parts) == CHATS * MESSAGES
    assert [part["chats"] for part in parts] == [2, 1]
    assert [part["done"] for part in parts] == [False, True]
    assert parts[-1]["progress"] == 100
    # A bigger history overlaps the first one: only its new messages are kept.
    more = await client.post(f"{base}/simulator/history", json={"chats": 4, "messages": 9})
    assert more.status_code == 200
    await settle(app)
    assert len(await stored(client, name, contact_of(3))) == MESSAGES
    assert len(await stored(client, name, contact_of(0))) == MESSAGES


async def test_recent_takes_the_last_days_and_off_nothing(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    recent = await linked_instance(
        client, settings={"history_sync": "recent", "history_sync_days": 35}
    )
    assert recent["settings"]["history_sync"] == "recent"
    assert recent["settings"]["history_sync_days"] == 35
    off = await linked_instance(client, settings={"history_sync": "off"})
    await settle(app)
    kept = await all_stored(client, recent["name"])
    cutoff = datetime.now(UTC) - timedelta(days=35)
    for rows in kept.values():
        assert len(rows) == 3  # 10, 20 and 30 days old
        assert all(datetime.fromisoformat(row["timestamp"]) >= cutoff for row in rows)
    assert await all_stored(client, off["name"]) == {contact_of(i): [] for i in range(CHATS)}
    assert (await client.get(f"/v1/instances/{off['name']}/chats")).json()["chats"] == []
    # Switched to full later: the next history brings the rest, the recent part once.
    base = f"/v1/instances/{recent['name']}"
    patch = {"settings": {"history_sync": "full"}}
    assert (await client.patch(base, json=patch)).status_code == 200
    assert (await client.post(f"{base}/simulator/history")).status_code == 200
    await settle(app)
    kept = await all_stored(client, recent["name"])
    assert [len(rows) for rows in kept.values()] == [MESSAGES] * CHATS


async def test_bad_settings_and_control_input_are_422(client: httpx.AsyncClient) -> None:
    created = await linked_instance(client)
    base = f"/v1/instances/{created['name']}"
    assert created["settings"]["history_sync"] == "recent"
    assert created["settings"]["history_sync_days"] == 30
    for bad in ({"history_sync": "some"}, {"history_sync_days": 0}):
        answer = await client.patch(base, json={"settings": bad})
        assert answer.status_code == 422, answer.text
    answer = await client.post(f"{base}/simulator/history", json={"chats": 0})
    assert answer.status_code == 422
