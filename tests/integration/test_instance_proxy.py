"""An instance's proxy, reject_calls and always_online, over HTTP on both databases.

The proxy is checked (422 naming settings.proxy), stored encrypted, shown only as scheme,
host and port, and never in a response, a log line or an event; URL media of the instance's
sends is fetched through it (a loopback proxy that answers the request itself).
"""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from fastapi import FastAPI
from PIL import Image
from sqlalchemy import select

from tests.conftest import create_instance, linked_instance, unique_name
from tests.integration.instance_helpers import assert_error, bad_fields, state_of
from tests.support.polling import eventually
from tests.support.proxy import Asked, recording_proxy
from wagate.engines.base import IncomingCall
from wagate.engines.simulator.engine import SimulatorClient, SimulatorEngine
from wagate.events.bus import Event
from wagate.models import Instance
from wagate.secretbox import SecretBox

USER = "acct-" + uuid.uuid4().hex[:12]
PASSWORD = "pw-" + uuid.uuid4().hex
CREDENTIALS = f"{USER}:{PASSWORD}"
PROXY = f"socks5://{CREDENTIALS}@proxy.example.com:1080"
SHOWN = {"scheme": "socks5", "host": "proxy.example.com", "port": 1080, "credentials_set": True}
TO = "5511987654321"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # The tests' proxies are on loopback (or never dialled); the media server is the proxy.
    return {"allow_private_proxies": True, "allow_private_media_urls": True, "log_level": "debug"}


def assert_no_credentials(text: str) -> None:
    assert PASSWORD not in text and USER not in text


def simulator(app: FastAPI) -> SimulatorEngine:
    engine = state_of(app).manager.engines["simulator"]
    assert isinstance(engine, SimulatorEngine)
    return engine


async def row_of(app: FastAPI, name: str) -> Instance:
    async with state_of(app).db.session() as session:
        row = await session.scalar(select(Instance).where(Instance.name == name))
    assert row is not None
    return row


def collect_events(app: FastAPI) -> list[Event]:
    seen: list[Event] = []
    state_of(app).bus.watch(seen.append)
    return seen


async def test_proxy_is_stored_encrypted_and_shown_without_credentials(
    client: httpx.AsyncClient, app: FastAPI, capfd: pytest.CaptureFixture[str]
) -> None:
    events = collect_events(app)
    created = await create_instance(client, settings={"proxy": PROXY, "always_online": True})
    name = created["name"]
    assert created["settings"]["proxy"] == SHOWN and created["settings"]["always_online"]
    answers = [json.dumps(created)]
    for path in (f"/v1/instances/{name}", "/v1/instances"):
        response = await client.get(path)
        assert response.status_code == 200
        answers.append(response.text)
    assert response.json()["instances"][0]["settings"]["proxy"] == SHOWN

    other = "http://other:secret-two@10.1.2.3:3128"
    patched = await client.patch(f"/v1/instances/{name}", json={"settings": {"proxy": other}})
    assert patched.status_code == 200, patched.text
    assert patched.json()["settings"]["proxy"] == {
        "scheme": "http",
        "host": "10.1.2.3",
        "port": 3128,
        "credentials_set": True,
    }
    assert "secret-two" not in patched.text
    # Another setting leaves the proxy as it is; an empty string removes it.
    kept = await client.patch(f"/v1/instances/{name}", json={"settings": {"max_attempts": 2}})
    assert kept.json()["settings"]["proxy"]["host"] == "10.1.2.3"
    patched = await client.patch(f"/v1/instances/{name}", json={"settings": {"proxy": PROXY}})
    answers.append(patched.text)

    row = await row_of(app, name)
    stored = json.dumps(row.settings)
    assert_no_credentials(stored)
    assert state_of(app).secrets.decrypt(row.settings["proxy"]["url"]) == PROXY

    assert (await client.post(f"/v1/instances/{name}/connect")).status_code == 202
    await client.post(f"/v1/instances/{name}/disconnect")
    removed = await client.patch(f"/v1/instances/{name}", json={"settings": {"proxy": ""}})
    assert removed.json()["settings"]["proxy"] is None
    assert (await row_of(app, name)).settings["proxy"] is None

    for text in answers:
        assert_no_credentials(text)
    assert events, "the connect published events"
    assert_no_credentials(json.dumps([e.data for e in events], default=str))
    out, err = capfd.readouterr()
    assert_no_credentials(out + err)


MALFORMED = [
    f"ftp://{CREDENTIALS}@proxy.example.com:21",  # scheme
    f"http://{CREDENTIALS}@:8080",  # no host
    f"http://{CREDENTIALS}@proxy.example.com:99999",  # port out of range
    f"http://{CREDENTIALS}@proxy.example.com:port",  # port not a number
    f"http://{CREDENTIALS}@proxy.example.com:0",
    f"socks5://{CREDENTIALS}@proxy.example.com:1080/path",
    f"http://{CREDENTIALS}@proxy.example.com:8080?x=1",
    f"http://:{PASSWORD}@proxy.example.com:8080",  # a password without a user
    f"{CREDENTIALS}@proxy.example.com:8080",  # no scheme
    f"http://{CREDENTIALS}@proxy.example.com:8080/ x",
    f"http://{CREDENTIALS}@[::1:8080",
]


@pytest.mark.parametrize("proxy", MALFORMED)
async def test_a_malformed_proxy_is_refused_naming_the_field(
    client: httpx.AsyncClient, proxy: str
) -> None:
    name = unique_name()
    body = {"name": name, "engine": "simulator", "settings": {"proxy": proxy}}
    response = await client.post("/v1/instances", json=body)
    assert bad_fields(response) == {"settings.proxy"}
    assert_no_credentials(response.text)
    name = (await create_instance(client))["name"]
    response = await client.patch(f"/v1/instances/{name}", json={"settings": {"proxy": proxy}})
    assert bad_fields(response) == {"settings.proxy"}
    assert_no_credentials(response.text)
    assert (await client.get(f"/v1/instances/{name}")).json()["settings"]["proxy"] is None


class TestPrivateProxies:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {}  # the default: a proxy on a private address is refused

    @pytest.mark.parametrize(
        "host", ["127.0.0.1", "10.0.0.7", "169.254.169.254", "[::1]", "localhost"]
    )
    async def test_a_proxy_on_a_private_address_is_refused(
        self, client: httpx.AsyncClient, host: str
    ) -> None:
        name = (await create_instance(client))["name"]
        proxy = f"http://{CREDENTIALS}@{host}:3128"
        response = await client.patch(f"/v1/instances/{name}", json={"settings": {"proxy": proxy}})
        error = assert_error(response, 422, "validation_error")
        assert error["details"]["fields"][0]["field"] == "settings.proxy"
        assert "proxy" in error["details"]["fields"][0]["message"]
        assert_no_credentials(response.text)


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize("socks", [False, True], ids=["http", "socks5"])
async def test_url_media_of_a_send_is_fetched_through_the_instance_proxy(
    client: httpx.AsyncClient, app: FastAPI, capfd: pytest.CaptureFixture[str], socks: bool
) -> None:
    async with recording_proxy(socks) as proxy:
        picture = png()
        proxy.pages["/pic.png"] = (picture, "image/png")
        instance = await linked_instance(client, settings={"proxy": proxy.url(CREDENTIALS)})
        name = instance["name"]
        # Nothing listens at the target: only the proxy can answer it.
        target = f"http://127.0.0.1:{proxy.port}/pic.png"
        response = await client.post(
            f"/v1/instances/{name}/send/image", json={"to": TO, "media": {"url": target}}
        )
        assert response.status_code in (200, 202), response.text
        # The checked address is what the proxy is asked for.
        asked = Asked("CONNECT", f"127.0.0.1:{proxy.port}", CREDENTIALS) if socks else None
        assert proxy.asked == [asked or Asked("GET", target, CREDENTIALS)]

        async def sent() -> list[Any] | None:
            outbox = (await client.get(f"/v1/instances/{name}/simulator/outbox")).json()
            return outbox["messages"] or None

        messages = await eventually(sent, what="the image in the outbox")
        assert messages[0]["kind"] == "image"
        assert messages[0]["body"]["media"]["size"] == len(picture)

        # A page the proxy does not have: the send is refused, the proxy named nowhere.
        missing = f"http://127.0.0.1:{proxy.port}/gone.png"
        response = await client.post(
            f"/v1/instances/{name}/send/image", json={"to": TO, "media": {"url": missing}}
        )
        assert bad_fields(response) == {"media.url"}
        assert_no_credentials(response.text)
        assert len(proxy.asked) == 2
    out, err = capfd.readouterr()
    assert_no_credentials(out + err)


async def test_always_online_shows_the_account_available_on_every_connect(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    instance = await linked_instance(client, settings={"always_online": True})
    name, engine = instance["name"], simulator(app)
    row_id = (await row_of(app, name)).id

    async def sent(count: int) -> list[str]:
        async def enough() -> list[str] | None:
            states = [state for state, _ in engine.presence_sent.get(row_id, [])]
            return states if len(states) >= count else None

        return await eventually(enough, what=f"{count} presences")

    assert await sent(1) == ["available"]
    off = await client.patch(f"/v1/instances/{name}", json={"settings": {"always_online": False}})
    assert off.status_code == 200 and not off.json()["settings"]["always_online"]
    assert await sent(2) == ["available", "unavailable"]
    await client.patch(f"/v1/instances/{name}", json={"settings": {"always_online": True}})
    assert await sent(3) == ["available", "unavailable", "available"]
    # A reconnect shows it online again: it stays so.
    assert (await client.post(f"/v1/instances/{name}/restart")).status_code == 202
    assert await sent(4) == ["available", "unavailable", "available", "available"]
    seen = (await client.get(f"/v1/instances/{name}/simulator/presence")).json()
    assert seen["shown"] == "available"
    assert [item["state"] for item in seen["sent"]] == await sent(4)


async def test_without_always_online_no_presence_is_sent(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    instance = await linked_instance(client)
    row_id = (await row_of(app, instance["name"])).id
    await state_of(app).manager.settled(instance["name"])
    assert simulator(app).presence_sent.get(row_id) is None
    seen = await client.get(f"/v1/instances/{instance['name']}/simulator/presence")
    assert seen.status_code == 200 and seen.json() == {"shown": None, "sent": []}


async def test_reject_calls_rejects_ringing_calls_while_it_is_on(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    instance = await linked_instance(client, settings={"reject_calls": True})
    name, engine, manager = instance["name"], simulator(app), state_of(app).manager
    row_id = (await row_of(app, name)).id
    live = manager.live_client(name)
    assert live is not None
    live.sink(IncomingCall("call-1", f"{TO}@s.whatsapp.net"))  # type: ignore[attr-defined]
    await manager.settled(name)
    assert engine.rejected_calls[row_id] == ["call-1"]

    response = await client.patch(
        f"/v1/instances/{name}", json={"settings": {"reject_calls": False}}
    )
    assert response.status_code == 200 and not response.json()["settings"]["reject_calls"]
    live.sink(IncomingCall("call-2", f"{TO}@s.whatsapp.net"))  # type: ignore[attr-defined]
    await manager.settled(name)
    assert engine.rejected_calls[row_id] == ["call-1"]  # left ringing


async def test_a_proxy_this_node_cannot_decrypt_stops_the_connect(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """Never a connect without the proxy it should go through (it would show the node's own
    address to WhatsApp)."""
    name = (await create_instance(client, settings={"proxy": PROXY}))["name"]
    manager = state_of(app).manager
    manager.secrets = SecretBox(Fernet.generate_key(), "another key")
    assert (await client.post(f"/v1/instances/{name}/connect")).status_code == 202
    row = (await client.get(f"/v1/instances/{name}")).json()
    assert row["status"] == "disconnected"
    assert "cannot be decrypted" in row["last_error"]
    assert manager.live_client(name) is None
    assert_no_credentials(json.dumps(row))


async def test_a_proxy_set_just_after_the_slot_was_made_is_the_one_the_connect_dials(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """A connect right after the node made the instance's slot uses the settings read with it
    (no second read); a change in between must not be lost for that."""
    name = (await create_instance(client))["name"]
    manager = state_of(app).manager
    # A lifecycle call makes the slot (reading the row) without starting a client.
    assert (await client.post(f"/v1/instances/{name}/disconnect")).status_code == 200
    patched = await client.patch(f"/v1/instances/{name}", json={"settings": {"proxy": PROXY}})
    assert patched.status_code == 200, patched.text
    assert (await client.post(f"/v1/instances/{name}/connect")).status_code == 202
    live = manager.live_client(name)
    assert isinstance(live, SimulatorClient)
    assert live.instance.proxy == PROXY
