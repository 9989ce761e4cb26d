"""An instance's own proxy on a real engine host: its WhatsApp connection goes through it.

The proxy is a loopback server of the test that records the CONNECT it is asked for and
refuses it (403), never dialling out. The host-wide proxy (WAGATE_WHATSMEOW_PROXY) is a black
hole here: the instance's own proxy wins over it, and an instance without one still uses it.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import create_instance, wait_status
from tests.integration.whatsmeow.conftest import BlackHole
from tests.support.proxy import recording_proxy
from wagate.events.bus import Event

pytestmark = pytest.mark.e2e

USER = "acct-" + uuid.uuid4().hex[:12]
PASSWORD = "pw-" + uuid.uuid4().hex
CREDENTIALS = f"{USER}:{PASSWORD}"


@pytest.fixture
def settings_overrides(black_hole: BlackHole) -> dict[str, Any]:
    return {
        "whatsmeow_proxy": black_hole.url,
        "whatsmeow_connect_attempts": 2,
        "whatsmeow_stop_wait_s": 0.5,
        "allow_private_proxies": True,  # the test's proxy is on loopback
        "log_level": "debug",
    }


def assert_no_credentials(text: str) -> None:
    assert PASSWORD not in text and USER not in text


async def test_the_connection_goes_through_the_instance_proxy(
    app: FastAPI,
    client: httpx.AsyncClient,
    black_hole: BlackHole,
    capfd: pytest.CaptureFixture[str],
) -> None:
    events: list[Event] = []
    app.state.wagate.bus.watch(events.append)
    async with recording_proxy() as proxy:
        created = await create_instance(
            client, engine="whatsmeow", settings={"proxy": proxy.url(CREDENTIALS)}
        )
        name = created["name"]
        assert (await client.post(f"/v1/instances/{name}/connect")).status_code == 202
        asked = await proxy.wait_asked(1)
        assert asked[0].method == "CONNECT"
        assert asked[0].target.endswith(":443"), asked  # WhatsApp's websocket
        assert asked[0].credentials == CREDENTIALS
        # Refused twice (the connect's attempts): the instance gives up, nothing else dialled.
        row = await wait_status(client, name, "disconnected", timeout=60)
        assert len(proxy.asked) == 2 and not black_hole.connections
        answers = [json.dumps(created), json.dumps(row)]

        # Without its own proxy the instance dials the host's, at its next connect.
        patched = await client.patch(f"/v1/instances/{name}", json={"settings": {"proxy": ""}})
        assert patched.status_code == 200 and patched.json()["settings"]["proxy"] is None
        assert (await client.post(f"/v1/instances/{name}/connect")).status_code == 202
        await black_hole.wait_connections(1)
        assert len(proxy.asked) == 2
        await client.post(f"/v1/instances/{name}/disconnect")
        answers.append((await client.get("/v1/instances")).text)

    for text in answers:
        assert_no_credentials(text)
    assert any(e.event == "connection_update" for e in events)
    assert_no_credentials(json.dumps([e.data for e in events], default=str))
    out, err = capfd.readouterr()
    assert_no_credentials(out + err)
