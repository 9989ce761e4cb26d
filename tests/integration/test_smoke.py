"""The base path on both databases: create, connect, scan, connected, events, delete."""

from __future__ import annotations

import httpx

import wagate
from tests.conftest import create_instance, linked_instance, wait_status


async def test_health(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok", "version": wagate.__version__}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["database"] == "ok"


async def test_link_and_delete(client: httpx.AsyncClient) -> None:
    linked = await linked_instance(client)
    name = linked["name"]
    assert linked["jid"].endswith("@s.whatsapp.net")
    assert linked["phone"]
    response = await client.delete(f"/v1/instances/{name}")
    assert response.status_code == 204
    assert (await client.get(f"/v1/instances/{name}")).status_code == 404


async def test_qr_timeout(client: httpx.AsyncClient) -> None:
    created = await create_instance(client)
    name = created["name"]
    await client.post(f"/v1/instances/{name}/connect")
    await wait_status(client, name, "pairing")
    final = await wait_status(client, name, "disconnected", timeout=15)
    assert final["last_error"] == "qr_timeout"
