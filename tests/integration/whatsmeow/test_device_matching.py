"""The shared (PostgreSQL) device store holds the devices of every instance: two instances
linked to one number each find and delete only the device they linked as, never the other's
(a match on the number would resume or delete another instance's session)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from tests.conftest import create_instance
from tests.integration.whatsmeow.conftest import BlackHole
from tests.integration.whatsmeow.test_whatsmeow_api import _insert_device, _rows
from tests.support.polling import eventually
from wagate.engines.base import InstanceRef
from wagate.engines.whatsmeow.store import stored_device
from wagate.instances import repository

pytestmark = [pytest.mark.e2e, pytest.mark.parametrize("database_url", ["postgres"], indirect=True)]


@pytest.fixture
def settings_overrides(black_hole: BlackHole) -> dict[str, Any]:
    # Every dial hangs on loopback: the store is made, nothing leaves the machine.
    return {"whatsmeow_proxy": black_hole.url, "whatsmeow_stop_wait_s": 0.5}


async def _store_made(app: FastAPI, timeout: float = 30) -> None:
    async def made() -> bool:
        async with app.state.wagate.db.session() as session:
            query = text("SELECT to_regclass('whatsmeow_device') IS NOT NULL")
            return bool(await session.scalar(query))

    await eventually(made, timeout=timeout, interval=0.1, what="whatsmeow's tables")


async def test_two_instances_of_one_number_find_and_forget_only_their_own_device(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    # A first instance's client makes whatsmeow's tables in the gateway's database.
    first = (await create_instance(client, engine="whatsmeow"))["name"]
    assert (await client.post(f"/v1/instances/{first}/connect")).status_code == 202
    await _store_made(app)

    # Two instances linked to the same number: two devices of it in the shared store.
    number = "5511912345678"
    devices = [f"{number}:7@s.whatsapp.net", f"{number}:8@s.whatsapp.net"]
    refs: list[InstanceRef] = []
    for device in devices:
        await _insert_device(app, device)
        name = (await create_instance(client, engine="whatsmeow"))["name"]
        async with app.state.wagate.db.transaction() as session:
            row = await repository.get_by_name(session, name)
            assert row is not None
            row.jid, row.phone, row.device_jid = f"{number}@s.whatsapp.net", number, device
            refs.append(InstanceRef(row.id, row.name, row.jid, row.device_jid))

    db = app.state.wagate.db
    assert [await stored_device(db, ref) for ref in refs] == devices
    # No device recorded (linked by an older version, ambiguous): no guess by number.
    assert await stored_device(db, InstanceRef(refs[1].id, refs[1].name, refs[1].jid)) is None

    # Deleting the second (through the manager, which reads the row) takes only its device.
    assert (await client.delete(f"/v1/instances/{refs[1].name}")).status_code == 204
    assert await _rows(app, "whatsmeow_device", "jid", devices[1]) == 0
    assert await _rows(app, "whatsmeow_privacy_tokens", "our_jid", devices[1]) == 0
    assert await _rows(app, "whatsmeow_device", "jid", devices[0]) == 1
    assert await _rows(app, "whatsmeow_identity_keys", "our_jid", devices[0]) == 1
    assert await _rows(app, "whatsmeow_privacy_tokens", "our_jid", devices[0]) == 1
    assert await stored_device(db, refs[0]) == devices[0]

    assert (await client.delete(f"/v1/instances/{refs[0].name}")).status_code == 204
    assert await _rows(app, "whatsmeow_device", "jid", devices[0]) == 0
