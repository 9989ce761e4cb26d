"""The simulator engine's behaviour and control routes (API.md "The simulator engine")."""

from __future__ import annotations

import asyncio

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
from wagate.db import utcnow
from wagate.engines.actions import CHECK_NUMBERS, SEND, CheckNumbersRequest
from wagate.engines.base import OutgoingMessage, PermanentEngineError
from wagate.engines.simulator.engine import SimulatorEngine
from wagate.models import Instance, SimulatorConnection, SimulatorDevice


async def test_scan_with_a_phone(client: httpx.AsyncClient) -> None:
    instance = await create_instance(client)
    name = instance["name"]
    scan = f"/v1/instances/{name}/simulator/scan"
    assert_error(await client.post(scan, json={}), 409, "not_pairing")
    await client.post(f"/v1/instances/{name}/connect")
    await wait_status(client, name, "pairing")
    assert bad_fields(await client.post(scan, json={"phone": "12ab"})) == {"phone"}
    assert bad_fields(await client.post(scan, json={"phone": 5511})) == {"phone"}
    assert bad_fields(await client.post(scan, json={"pin": "1"})) == {"pin"}
    response = await client.post(
        scan, json={"phone": "+1 415 555 2671"}, headers=token_headers(instance["token"])
    )
    assert response.status_code == 204, response.text
    linked = await wait_status(client, name, "connected")
    assert linked["phone"] == "14155552671"
    assert linked["jid"] == "14155552671@s.whatsapp.net"
    assert linked["connected_at"] and linked["last_error"] is None
    assert_error(await client.post(scan, json={}), 409, "not_pairing")


async def test_the_0000_rule(client: httpx.AsyncClient, app: FastAPI) -> None:
    linked = await linked_instance(client)
    engine_client = state_of(app).manager.connected_client(linked["name"])
    results = await engine_client.call(
        CHECK_NUMBERS, CheckNumbersRequest(["+55 11 99999-0000", "+5511999991234", "100000"])
    )
    assert [(r.on_whatsapp, r.jid) for r in results] == [
        (False, None),
        (True, "5511999991234@s.whatsapp.net"),
        (False, None),
    ]
    with pytest.raises(PermanentEngineError) as failure:
        await engine_client.call(
            SEND, OutgoingMessage("text", "5511999990000@s.whatsapp.net", {"text": "hi"}, "c1")
        )
    assert failure.value.code == "not_on_whatsapp"


async def test_outbox(client: httpx.AsyncClient, app: FastAPI) -> None:
    linked = await linked_instance(client)
    name = linked["name"]
    outbox = f"/v1/instances/{name}/simulator/outbox"
    assert (await client.get(outbox)).json() == {"messages": []}
    engine_client = state_of(app).manager.connected_client(name)
    sent = [
        await engine_client.call(
            SEND,
            OutgoingMessage("text", f"551198765432{i}@s.whatsapp.net", {"text": f"n{i}"}, f"c{i}"),
        )
        for i in range(3)
    ]
    response = await client.get(outbox, headers=token_headers(linked["token"]))
    assert response.status_code == 200
    messages = response.json()["messages"]
    assert [m["message_id"] for m in messages] == [s.message_id for s in sent]
    assert messages[1]["to"] == "5511987654321@s.whatsapp.net"
    assert messages[1]["kind"] == "text" and messages[1]["body"] == {"text": "n1"}
    assert set(messages[0]) == {"message_id", "to", "kind", "body", "sent_at"}


async def test_inbound_validation(client: httpx.AsyncClient) -> None:
    instance = await create_instance(client)
    name = instance["name"]
    inbound = f"/v1/instances/{name}/simulator/inbound"
    assert_error(
        await client.post(inbound, json={"from": "+5511988887777", "text": "hi"}),
        409,
        "instance_not_connected",
    )
    assert bad_fields(await client.post(inbound, json={"from": "nobody", "text": "hi"})) == {"from"}
    assert bad_fields(await client.post(inbound, json={"text": "hi"})) == {"from"}
    assert bad_fields(
        await client.post(inbound, json={"from": "+5511988887777", "kind": "image"})
    ) == {"media"}
    assert bad_fields(
        await client.post(
            inbound,
            json={
                "from": "+5511988887777",
                "kind": "image",
                "media": {"base64": "%%%", "mimetype": "image/png"},
            },
        )
    ) == {"media.base64"}
    assert bad_fields(
        await client.post(inbound, json={"from": "+5511988887777", "kind": "gif"})
    ) == {"kind"}
    for media, field in [
        ({"base64": "aGk=", "mimetype": "text/plain\x00"}, "media.mimetype"),
        ({"base64": "aGk=", "mimetype": "nonsense"}, "media.mimetype"),
        ({"base64": "aGk=", "mimetype": "text/plain", "filename": "a\x00b"}, "media.filename"),
        ({"base64": "aGk=", "mimetype": "text/plain", "filename": "a\nb"}, "media.filename"),
    ]:
        body = {"from": "+5511988887777", "kind": "document", "media": media}
        assert bad_fields(await client.post(inbound, json=body)) == {field}, media


async def test_inbound_reaches_the_event_bus(client: httpx.AsyncClient, app: FastAPI) -> None:
    linked = await linked_instance(client)
    name = linked["name"]
    async with Recorder(app, name) as recorder:
        voice = await client.post(
            f"/v1/instances/{name}/simulator/inbound",
            json={
                "from": "+5511988881111",
                "kind": "audio",
                "media": {"base64": "T2dnUw==", "mimetype": "audio/ogg; codecs=opus"},
            },
        )
        assert voice.status_code == 200, voice.text
        audio = await recorder.wait_for(lambda e: e.event == "message_received")
        assert audio.data["kind"] == "audio"
        assert audio.data["message_id"] == voice.json()["message_id"]
        response = await client.post(
            f"/v1/instances/{name}/simulator/inbound",
            json={"from": "+55 11 98888-1111", "text": "olá"},
            headers=token_headers(linked["token"]),
        )
        assert response.status_code == 200, response.text
        message_id = response.json()["message_id"]
        event = await recorder.wait_for(
            lambda e: e.event == "message_received" and e.data["message_id"] == message_id
        )
    assert event.data["from"] == "5511988881111@s.whatsapp.net"
    assert event.data["chat"] == "5511988881111@s.whatsapp.net"
    assert event.data["text"] == "olá" and event.data["kind"] == "text"
    assert event.data["from_me"] is False


async def test_faults_are_validated(client: httpx.AsyncClient) -> None:
    instance = await create_instance(client)
    faults = f"/v1/instances/{instance['name']}/simulator/faults"
    assert bad_fields(await client.post(faults, json={"fail_kind": "weird"})) == {"fail_kind"}
    assert bad_fields(await client.post(faults, json={"send_latency_ms": -1})) == {
        "send_latency_ms"
    }
    assert bad_fields(await client.post(faults, json={"explode": True})) == {"explode"}
    assert_error(
        await client.post(faults, json={"disconnect": True}), 409, "instance_not_connected"
    )
    assert_error(await client.post(faults, json={"logout": True}), 409, "instance_not_connected")
    response = await client.post(
        faults, json={"fail_next": 2, "fail_kind": "permanent", "send_latency_ms": 5}
    )
    assert response.status_code == 200
    assert response.json() == {"send_latency_ms": 5, "fail_next": 2, "fail_kind": "permanent"}
    assert (await client.post(faults, json={})).json()["fail_next"] == 2


async def test_disconnect_fault_reconnects_with_backoff(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    linked = await linked_instance(client)
    name = linked["name"]
    settings = state_of(app).settings
    first_client = state_of(app).manager.live_client(name)
    async with Recorder(app, name) as recorder:
        # The "connected" event of the link itself may still reach the recorder after the
        # status was readable: count only what follows the fault.
        fault_at = utcnow()
        response = await client.post(
            f"/v1/instances/{name}/simulator/faults", json={"disconnect": True}
        )
        assert response.status_code == 200, response.text
        await recorder.wait_for(
            lambda e: (
                e.event == "connection_update"
                and e.data["status"] == "connected"
                and e.timestamp >= fault_at
            )
        )
    updates = [e for e in recorder.named("connection_update") if e.timestamp >= fault_at]
    assert [e.data["status"] for e in updates] == ["reconnecting", "connecting", "connected"]
    assert updates[0].data["reason"] == "connection dropped (simulated)"
    assert updates[0].data["previous"] == "connected"
    waited = (updates[1].timestamp - updates[0].timestamp).total_seconds()
    assert waited >= settings.reconnect_base_delay_s * 0.5 * 0.9
    assert not recorder.named("qr_updated")  # the device stayed linked
    again = (await client.get(f"/v1/instances/{name}")).json()
    assert again["jid"] == linked["jid"] and again["last_error"] is None
    assert state_of(app).manager.live_client(name) not in (None, first_client)
    async with state_of(app).db.session() as session:
        rows = (await session.execute(select(SimulatorConnection.disconnected_at))).all()
    assert sorted(row.disconnected_at is None for row in rows) == [False, True]


async def test_logout_fault_does_not_reconnect(client: httpx.AsyncClient, app: FastAPI) -> None:
    linked = await linked_instance(client)
    name = linked["name"]
    state = state_of(app)
    async with Recorder(app, name) as recorder:
        response = await client.post(
            f"/v1/instances/{name}/simulator/faults",
            json={"logout": True},
            headers=token_headers(linked["token"]),
        )
        assert response.status_code == 200, response.text
        await recorder.wait_status("logged_out")
        # several reconnect delays later, still nothing
        await asyncio.sleep(state.settings.reconnect_max_delay_s * 2)
    assert recorder.statuses() == ["logged_out"]
    got = (await client.get(f"/v1/instances/{name}")).json()
    assert got["status"] == "logged_out" and got["jid"] is None
    assert got["last_error"] == "device unlinked from the phone"
    assert state.manager.live_client(name) is None
    async with state.db.session() as session:
        row = await session.scalar(select(Instance).where(Instance.name == name))
        assert row is not None and row.desired_state == "stopped"
        assert await session.get(SimulatorDevice, row.id) is None
    await client.post(f"/v1/instances/{name}/connect")
    await wait_status(client, name, "pairing")


async def test_simulator_routes_are_404_for_whatsmeow(client: httpx.AsyncClient) -> None:
    instance = await create_instance(client, engine="whatsmeow")
    assert instance["engine"] == "whatsmeow"
    base = f"/v1/instances/{instance['name']}/simulator"
    for method, path, body in [
        ("POST", "/scan", {}),
        ("POST", "/inbound", {"from": "+5511988887777", "text": "x"}),
        ("POST", "/faults", {}),
        ("GET", "/outbox", None),
    ]:
        response = await client.request(method, base + path, json=body)
        assert_error(response, 404, "not_found")
        response = await client.request(
            method, base + path, json=body, headers=token_headers(instance["token"])
        )
        assert_error(response, 404, "not_found")
    # an instance of an engine this node does not run can still be deleted
    assert (await client.delete(f"/v1/instances/{instance['name']}")).status_code == 204
    assert_error(await client.get(f"/v1/instances/{instance['name']}"), 404, "not_found")


@pytest.mark.parametrize(
    "settings_overrides", [{"reconnect_base_delay_s": 0.3, "reconnect_max_delay_s": 0.6}]
)
@pytest.mark.parametrize("action", ["disconnect", "logout", "delete"])
async def test_a_pending_reconnect_is_cancelled(
    client: httpx.AsyncClient, app: FastAPI, action: str
) -> None:
    linked = await linked_instance(client)
    name = linked["name"]
    manager = state_of(app).manager
    async with Recorder(app, name) as recorder:
        await client.post(f"/v1/instances/{name}/simulator/faults", json={"disconnect": True})
        await recorder.wait_status("reconnecting")
        if action == "delete":
            assert (await client.delete(f"/v1/instances/{name}")).status_code == 204
        else:
            response = await client.post(f"/v1/instances/{name}/{action}")
            assert response.status_code == 200, response.text
        await asyncio.sleep(0.8)  # past the longest reconnect delay
    assert "connecting" not in recorder.statuses()
    assert manager.live_client(name) is None
    engine = manager.engines["simulator"]
    assert isinstance(engine, SimulatorEngine) and engine.clients == {}
    if action != "delete":
        final = (await client.get(f"/v1/instances/{name}")).json()
        assert final["status"] == ("disconnected" if action == "disconnect" else "logged_out")


async def test_inbound_view_once(client: httpx.AsyncClient, app: FastAPI) -> None:
    linked = await linked_instance(client)
    name = linked["name"]
    inbound = f"/v1/instances/{name}/simulator/inbound"
    photo = {"base64": "iVBORw0KGgo=", "mimetype": "image/png"}
    async with Recorder(app, name) as recorder:
        once = await client.post(
            inbound,
            json={"from": "+5511988881111", "kind": "image", "media": photo, "view_once": True},
        )
        assert once.status_code == 200, once.text
        seen = await recorder.wait_for(
            lambda e: (
                e.event == "message_received" and e.data["message_id"] == once.json()["message_id"]
            )
        )
        plain = await client.post(
            inbound, json={"from": "+5511988881111", "kind": "image", "media": photo}
        )
        assert plain.status_code == 200, plain.text
        unseen = await recorder.wait_for(
            lambda e: (
                e.event == "message_received" and e.data["message_id"] == plain.json()["message_id"]
            )
        )
    assert seen.data["view_once"] is True
    assert "view_once" not in unseen.data  # only the fields that apply
    text = {"from": "+5511988881111", "text": "hi", "view_once": True}
    assert bad_fields(await client.post(inbound, json=text)) == {"view_once"}
