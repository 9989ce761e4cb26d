"""connect, qr, pair, disconnect, logout and restart over HTTP, on both databases."""

from __future__ import annotations

import asyncio
import base64
from datetime import datetime

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from tests.conftest import create_instance, linked_instance, wait_status
from tests.integration.instance_helpers import (
    Recorder,
    assert_error,
    bad_fields,
    state_of,
    token_headers,
)
from wagate.engines.simulator.engine import SimulatorEngine
from wagate.models import SimulatorConnection

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def count_clients(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the instance name of every client the simulator engine creates."""
    engine = state_of(app).manager.engines["simulator"]
    assert isinstance(engine, SimulatorEngine)
    created: list[str] = []
    original = engine.create_client

    def spy(instance, sink):  # type: ignore[no-untyped-def]
        created.append(instance.name)
        return original(instance, sink)

    monkeypatch.setattr(engine, "create_client", spy)
    return created


async def connections(app: FastAPI, name: str) -> list[SimulatorConnection]:
    state = state_of(app)
    async with state.db.session() as session:
        row = await state.manager._slot(name)
        result = await session.execute(
            select(SimulatorConnection)
            .where(SimulatorConnection.instance_id == row.ref.id)
            .order_by(SimulatorConnection.id)
        )
        return list(result.scalars().all())


async def test_connect_is_202_and_idempotent(
    client: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    created = count_clients(app, monkeypatch)
    instance = await create_instance(client)
    name = instance["name"]
    responses = await asyncio.gather(
        *(
            client.post(f"/v1/instances/{name}/connect", headers=token_headers(instance["token"]))
            for _ in range(5)
        )
    )
    for response in responses:
        assert response.status_code == 202, response.text
        assert response.json()["status"] in {"connecting", "pairing"}
    await wait_status(client, name, "pairing")
    again = await client.post(f"/v1/instances/{name}/connect")
    assert again.status_code == 202 and again.json() == {"status": "pairing"}
    assert created == [name]
    # linked and connected: connect again changes nothing
    assert (await client.post(f"/v1/instances/{name}/simulator/scan", json={})).status_code == 204
    await wait_status(client, name, "connected")
    again = await client.post(f"/v1/instances/{name}/connect")
    assert again.json() == {"status": "connected"}
    assert created == [name]
    assert len(await connections(app, name)) == 1


async def test_qr_json_and_png(client: httpx.AsyncClient) -> None:
    instance = await create_instance(client)
    name = instance["name"]
    assert_error(await client.get(f"/v1/instances/{name}/qr"), 409, "not_pairing")
    await client.post(f"/v1/instances/{name}/connect")
    await wait_status(client, name, "pairing")
    response = await client.get(
        f"/v1/instances/{name}/qr", headers=token_headers(instance["token"])
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"code", "image", "expires_at"}
    assert body["code"].startswith("2@")
    prefix = "data:image/png;base64,"
    assert body["image"].startswith(prefix)
    assert base64.b64decode(body["image"][len(prefix) :]).startswith(PNG_MAGIC)
    assert datetime.fromisoformat(body["expires_at"]) > datetime.fromisoformat(
        instance["created_at"]
    )
    png = await client.get(f"/v1/instances/{name}/qr", headers={"Accept": "image/png"})
    assert png.status_code == 200
    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(PNG_MAGIC) and len(png.content) > 200
    # linked: no QR any more
    assert (await client.post(f"/v1/instances/{name}/simulator/scan", json={})).status_code == 204
    await wait_status(client, name, "connected")
    assert_error(await client.get(f"/v1/instances/{name}/qr"), 409, "not_pairing")
    assert_error(
        await client.get(f"/v1/instances/{name}/qr", headers={"Accept": "image/png"}),
        409,
        "not_pairing",
    )


async def test_pair_by_phone_code(client: httpx.AsyncClient, app: FastAPI) -> None:
    instance = await create_instance(client)
    name = instance["name"]
    assert bad_fields(await client.post(f"/v1/instances/{name}/pair", json={})) == {"phone"}
    assert bad_fields(
        await client.post(f"/v1/instances/{name}/pair", json={"phone": "not a phone"})
    ) == {"phone"}
    async with Recorder(app, name) as recorder:
        # pair on a disconnected instance starts the client itself
        response = await client.post(
            f"/v1/instances/{name}/pair",
            json={"phone": "+55 11 98888-7777"},
            headers=token_headers(instance["token"]),
        )
        assert response.status_code == 200, response.text
        code = response.json()["code"]
        assert len(code) == 9 and code[4] == "-" and code.replace("-", "").isalnum()
        asked = asyncio.get_running_loop().time()
        await recorder.wait_status("connected")
        waited = asyncio.get_running_loop().time() - asked
    delay = state_of(app).settings.simulator_pair_code_delay_s
    assert waited >= delay * 0.9
    got = (await client.get(f"/v1/instances/{name}")).json()
    assert got["status"] == "connected"
    assert got["phone"] == "5511988887777"
    assert got["jid"] == "5511988887777@s.whatsapp.net"
    assert "pairing" in recorder.statuses()
    assert_error(
        await client.post(f"/v1/instances/{name}/pair", json={"phone": "+5511988887777"}),
        409,
        "not_pairing",
    )


async def test_disconnect_keeps_the_session(client: httpx.AsyncClient, app: FastAPI) -> None:
    linked = await linked_instance(client)
    name = linked["name"]
    response = await client.post(f"/v1/instances/{name}/disconnect")
    assert response.status_code == 200
    assert response.json() == {"status": "disconnected"}
    got = (await client.get(f"/v1/instances/{name}")).json()
    assert got["status"] == "disconnected" and got["last_error"] is None and got["node"] is None
    assert state_of(app).manager.live_client(name) is None
    rows = await connections(app, name)
    assert len(rows) == 1 and rows[0].disconnected_at is not None
    # disconnecting again is harmless
    assert (await client.post(f"/v1/instances/{name}/disconnect")).json() == {
        "status": "disconnected"
    }
    async with Recorder(app, name) as recorder:
        assert (await client.post(f"/v1/instances/{name}/connect")).status_code == 202
        await recorder.wait_status("connected")
    assert recorder.statuses() == ["connecting", "connected"]
    assert not recorder.named("qr_updated")
    got = (await client.get(f"/v1/instances/{name}")).json()
    assert got["jid"] == linked["jid"] and got["phone"] == linked["phone"]


async def test_logout_needs_a_new_scan(client: httpx.AsyncClient, app: FastAPI) -> None:
    linked = await linked_instance(client)
    name = linked["name"]
    response = await client.post(
        f"/v1/instances/{name}/logout", headers=token_headers(linked["token"])
    )
    assert response.status_code == 200
    assert response.json() == {"status": "logged_out"}
    got = (await client.get(f"/v1/instances/{name}")).json()
    assert got["status"] == "logged_out" and got["jid"] is None and got["phone"] is None
    assert state_of(app).manager.live_client(name) is None
    async with Recorder(app, name) as recorder:
        await client.post(f"/v1/instances/{name}/connect")
        await recorder.wait_status("pairing")
        # qr_updated follows the pairing status change.
        await recorder.wait_for(lambda e: e.event == "qr_updated")
    assert (await client.post(f"/v1/instances/{name}/simulator/scan", json={})).status_code == 204
    relinked = await wait_status(client, name, "connected")
    assert relinked["jid"] != linked["jid"]  # a new device (random phone) linked


async def test_logout_of_a_never_linked_instance(client: httpx.AsyncClient) -> None:
    instance = await create_instance(client)
    name = instance["name"]
    assert (await client.post(f"/v1/instances/{name}/logout")).json() == {"status": "logged_out"}
    await client.post(f"/v1/instances/{name}/connect")
    await wait_status(client, name, "pairing")


async def test_restart(client: httpx.AsyncClient, app: FastAPI) -> None:
    linked = await linked_instance(client)
    name = linked["name"]
    first = state_of(app).manager.live_client(name)
    async with Recorder(app, name) as recorder:
        response = await client.post(f"/v1/instances/{name}/restart")
        assert response.status_code == 202, response.text
        await recorder.wait_status("connected")
    assert recorder.statuses() == ["disconnected", "connecting", "connected"]
    assert recorder.events[0].data["reason"] == "restart"
    assert state_of(app).manager.live_client(name) not in (None, first)
    rows = await connections(app, name)
    assert len(rows) == 2
    assert rows[0].disconnected_at is not None and rows[1].disconnected_at is None
    assert rows[0].disconnected_at <= rows[1].connected_at
    # restart of a disconnected instance connects it
    await client.post(f"/v1/instances/{name}/disconnect")
    assert (await client.post(f"/v1/instances/{name}/restart")).status_code == 202
    await wait_status(client, name, "connected")


async def test_lifecycle_routes_of_unknown_instance_are_404(client: httpx.AsyncClient) -> None:
    for path in ("connect", "disconnect", "logout", "restart"):
        assert_error(await client.post(f"/v1/instances/nope-404/{path}"), 404, "not_found")
    assert_error(
        await client.post("/v1/instances/nope-404/pair", json={"phone": "+5511988887777"}),
        404,
        "not_found",
    )
    assert_error(await client.get("/v1/instances/nope-404/qr"), 404, "not_found")


QUICK_QR = {"simulator_qr_interval_s": 0.25, "simulator_qr_count": 6}


@pytest.mark.parametrize("settings_overrides", [QUICK_QR])
async def test_qr_rotates_then_times_out(client: httpx.AsyncClient, app: FastAPI) -> None:
    instance = await create_instance(client)
    name = instance["name"]
    async with Recorder(app, name) as recorder:
        started = asyncio.get_running_loop().time()
        await client.post(f"/v1/instances/{name}/connect")
        await recorder.wait_status("pairing")
        first = (await client.get(f"/v1/instances/{name}/qr")).json()["code"]
        await recorder.wait_for(lambda e: e.event == "qr_updated" and e.data["code"] != first)
        second = (await client.get(f"/v1/instances/{name}/qr")).json()["code"]
        assert second != first
        await recorder.wait_status("disconnected", timeout=5)
        elapsed = asyncio.get_running_loop().time() - started
    codes = [e.data["code"] for e in recorder.named("qr_updated")]
    assert len(codes) == 6 and len(set(codes)) == 6
    assert first in codes and second in codes
    assert elapsed >= 6 * 0.25 * 0.9
    final = (await client.get(f"/v1/instances/{name}")).json()
    assert final["status"] == "disconnected" and final["last_error"] == "qr_timeout"
    assert state_of(app).manager.live_client(name) is None
    assert_error(await client.get(f"/v1/instances/{name}/qr"), 409, "not_pairing")
    # a qr_timeout is not resumed: the user asked for a scan that never came
    await asyncio.sleep(0.3)
    assert (await client.get(f"/v1/instances/{name}")).json()["status"] == "disconnected"
    # connecting again starts a fresh round of codes
    await client.post(f"/v1/instances/{name}/connect")
    await wait_status(client, name, "pairing")
    assert (await client.get(f"/v1/instances/{name}/qr")).json()["code"] not in codes


async def test_restart_while_pairing_and_after_logout(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    instance = await create_instance(client)
    name = instance["name"]
    await client.post(f"/v1/instances/{name}/connect")
    await wait_status(client, name, "pairing")
    first = (await client.get(f"/v1/instances/{name}/qr")).json()["code"]
    async with Recorder(app, name) as recorder:
        assert (await client.post(f"/v1/instances/{name}/restart")).status_code == 202
        await recorder.wait_for(lambda e: e.event == "qr_updated")
    assert recorder.statuses() == ["disconnected", "connecting", "pairing"]
    assert (await client.get(f"/v1/instances/{name}/qr")).json()["code"] != first
    # logged out: restart simply connects (nothing to disconnect), and asks for a scan
    assert (await client.post(f"/v1/instances/{name}/logout")).json() == {"status": "logged_out"}
    async with Recorder(app, name) as recorder:
        assert (await client.post(f"/v1/instances/{name}/restart")).status_code == 202
        await recorder.wait_status("pairing")
    assert recorder.statuses() == ["connecting", "pairing"]
