"""An instance records the exact device JID it linked as (what the whatsmeow store is keyed
by) when it connects, keeps it across a restart, and forgets it on logout."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.conftest import linked_instance, wait_status
from wagate.instances import repository


async def _device(app: FastAPI, name: str) -> tuple[int, str | None, str | None]:
    async with app.state.wagate.db.session() as session:
        row = await repository.get_by_name(session, name)
    assert row is not None
    return row.id, row.jid, row.device_jid


async def test_the_linked_device_is_recorded_and_forgotten_on_logout(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    name = (await linked_instance(client))["name"]
    instance_id, jid, device = await _device(app, name)
    assert jid is not None and device == jid.replace("@", f":{instance_id}@")

    assert (await client.post(f"/v1/instances/{name}/restart")).status_code in (200, 202)
    await wait_status(client, name, "connected")
    assert (await _device(app, name))[2] == device

    assert (await client.post(f"/v1/instances/{name}/logout")).status_code in (200, 202)
    await wait_status(client, name, "logged_out")
    assert (await _device(app, name))[1:] == (None, None)
