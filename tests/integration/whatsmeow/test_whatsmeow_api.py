"""An instance of engine whatsmeow through the HTTP API, with neonize loaded for real in an
engine host and no route to WhatsApp (this machine is offline, like a server whose network
is down): the connect ends quickly in a clear status, and the device store exists."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from tests.conftest import create_instance
from wagate.engines.whatsmeow.store import sqlite_path
from wagate.instances import repository

pytestmark = pytest.mark.e2e

DIAL_ERROR = "failed to dial whatsapp web websocket"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"whatsmeow_connect_attempts": 2, "whatsmeow_stop_wait_s": 0.5}


async def _events(app: FastAPI, name: str, until: str, timeout: float = 30) -> list[dict[str, Any]]:
    """connection_update payloads of an instance, until one has status `until`."""
    seen: list[dict[str, Any]] = []
    async with app.state.wagate.bus.subscribe(name) as queue:
        yield_queue = queue
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            item = await asyncio.wait_for(yield_queue.get(), max(remaining, 0.01))
            if item is not None and item.event == "connection_update":
                seen.append(item.data)
                if item.data["status"] == until:
                    return seen


async def test_offline_connect_ends_in_a_clear_status_and_keeps_a_store(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    settings = app.state.wagate.settings
    created = await create_instance(client, engine="whatsmeow")
    name = created["name"]
    assert created["engine"] == "whatsmeow" and created["status"] == "disconnected"

    watching = asyncio.create_task(_events(app, name, "disconnected"))
    await asyncio.sleep(0)
    response = await client.post(f"/v1/instances/{name}/connect")
    assert response.status_code == 202
    seen = await watching
    statuses = [event["status"] for event in seen]
    # connecting -> reconnecting (attempt 1 failed) -> connecting -> disconnected (gave up)
    assert statuses == ["connecting", "reconnecting", "connecting", "disconnected"], seen
    assert DIAL_ERROR in (seen[1]["reason"] or "")

    row = (await client.get(f"/v1/instances/{name}")).json()
    assert row["status"] == "disconnected" and DIAL_ERROR in row["last_error"]
    qr = await client.get(f"/v1/instances/{name}/qr")
    assert qr.status_code == 409 and qr.json()["error"]["code"] == "not_pairing"

    async with app.state.wagate.db.session() as session:
        instance = await repository.get_by_name(session, name)
        assert instance is not None
        ref_id = instance.id
    if settings.is_sqlite:
        store = sqlite_path(settings, type("Ref", (), {"id": ref_id})())  # type: ignore[arg-type]
        tables = {
            r[0]
            for r in sqlite3.connect(store).execute(
                "SELECT name FROM sqlite_master WHERE type='table'"
            )
        }
        assert {"whatsmeow_device", "whatsmeow_sessions"} <= tables
    else:
        async with app.state.wagate.db.session() as session:
            found = await session.scalar(text("SELECT to_regclass('whatsmeow_device') IS NOT NULL"))
        assert found  # whatsmeow's tables in the gateway's own PostgreSQL database

    # A second connect after giving up tries again (and gives up again): never stuck.
    again = asyncio.create_task(_events(app, name, "disconnected"))
    await asyncio.sleep(0)
    assert (await client.post(f"/v1/instances/{name}/connect")).status_code == 202
    assert [e["status"] for e in await again][-1] == "disconnected"

    if settings.is_sqlite:
        # SQLite's side files go too (SQLite reuses a deleted row's id: a file left behind
        # would hand this device to the next instance with the id).
        side_files = [store.with_name(store.name + end) for end in ("-journal", "-wal", "-shm")]
        for path in side_files:
            path.touch()
    assert (await client.delete(f"/v1/instances/{name}")).status_code == 204
    if settings.is_sqlite:
        assert not store.exists()  # forget() removed the device store
        assert not any(path.exists() for path in side_files)


async def _insert_device(app: FastAPI, jid: str) -> None:
    """A device row as whatsmeow stores one after pairing (keys are placeholders)."""
    values = {
        "jid": jid,
        "k32": b"\x01" * 32,
        "k64": b"\x02" * 64,
        "adv": b"\x03",
    }
    async with app.state.wagate.db.transaction() as session:
        await session.execute(
            text(
                "INSERT INTO whatsmeow_device (jid, registration_id, noise_key, identity_key,"
                " signed_pre_key, signed_pre_key_id, signed_pre_key_sig, adv_key, adv_details,"
                " adv_account_sig, adv_account_sig_key, adv_device_sig)"
                " VALUES (:jid, 1, :k32, :k32, :k32, 1, :k64, :adv, :adv, :k64, :k32, :k64)"
            ),
            values,
        )
        await session.execute(
            text(
                "INSERT INTO whatsmeow_identity_keys (our_jid, their_id, identity)"
                " VALUES (:jid, 'peer', :k32)"
            ),
            values,
        )
        await session.execute(
            text(
                "INSERT INTO whatsmeow_privacy_tokens (our_jid, their_jid, token, timestamp)"
                " VALUES (:jid, 'peer', :adv, 1)"
            ),
            values,
        )


async def _rows(app: FastAPI, table: str, column: str, jid: str) -> int:
    async with app.state.wagate.db.session() as session:
        count = await session.scalar(
            text(f"SELECT count(*) FROM {table} WHERE {column} = :jid"), {"jid": jid}
        )
    return int(count or 0)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_shared_store_resumes_its_own_device_and_forgets_only_it(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    # A first instance creates whatsmeow's tables in the gateway's database.
    first = (await create_instance(client, engine="whatsmeow"))["name"]
    watching = asyncio.create_task(_events(app, first, "disconnected"))
    await asyncio.sleep(0)
    await client.post(f"/v1/instances/{first}/connect")
    await watching

    other_device = "5511000000009:3@s.whatsapp.net"  # another instance's session
    own_device = "5511987654321:7@s.whatsapp.net"
    await _insert_device(app, other_device)
    await _insert_device(app, own_device)

    # The instance that paired as 5511987654321 (the gateway stored its JID).
    name = (await create_instance(client, engine="whatsmeow"))["name"]
    async with app.state.wagate.db.transaction() as session:
        row = await repository.get_by_name(session, name)
        assert row is not None
        row.jid, row.phone, instance_id = "5511987654321@s.whatsapp.net", "5511987654321", row.id
        row.device_jid = own_device
    watching = asyncio.create_task(_events(app, name, "disconnected"))
    await asyncio.sleep(0)
    await client.post(f"/v1/instances/{name}/connect")
    seen = await watching
    assert DIAL_ERROR in (seen[-1]["reason"] or "")

    engine = app.state.wagate.manager.engines["whatsmeow"]
    host = engine.pool.hosts[0]
    described = (await host.request("status", {}, 5))[str(instance_id)]
    assert described["device"] == own_device and described["new_device"] is False
    unpaired = await host.request("status", {}, 5)
    assert any(d["new_device"] for d in unpaired.values())  # the first instance pairs anew

    assert (await client.delete(f"/v1/instances/{name}")).status_code == 204
    assert await _rows(app, "whatsmeow_device", "jid", own_device) == 0
    assert await _rows(app, "whatsmeow_identity_keys", "our_jid", own_device) == 0  # cascade
    assert await _rows(app, "whatsmeow_privacy_tokens", "our_jid", own_device) == 0
    assert await _rows(app, "whatsmeow_device", "jid", other_device) == 1  # untouched
    assert await _rows(app, "whatsmeow_identity_keys", "our_jid", other_device) == 1
