"""Instance settings that act on the live client (always_online, reject_calls, proxy) set
through a node that does not hold the instance: they reach the holder."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from tests.conftest import linked_instance, wait_status
from tests.support.polling import eventually
from wagate.engines.base import IncomingCall
from wagate.engines.simulator.engine import SimulatorClient, SimulatorEngine

from .conftest import Node, NodeFactory

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

PROXY = "socks5://acct:pw-cluster@127.0.0.1:1080"


def engine_of(node: Node) -> SimulatorEngine:
    engine = node.state.manager.engines["simulator"]
    assert isinstance(engine, SimulatorEngine)
    return engine


async def test_settings_set_on_an_api_node_act_on_the_holder(start_node: NodeFactory) -> None:
    shared = {"secret_key": Fernet.generate_key().decode(), "allow_private_proxies": True}
    api = await start_node(role="api", **shared)
    worker = await start_node(**shared)
    name = (await linked_instance(api.http))["name"]
    assert name in worker.held_names()

    body = {"settings": {"always_online": True, "reject_calls": True, "proxy": PROXY}}
    response = await api.http.patch(f"/v1/instances/{name}", json=body)
    assert response.status_code == 200, response.text
    assert "pw-cluster" not in response.text

    async def shown() -> str | None:
        seen = (await api.http.get(f"/v1/instances/{name}/simulator/presence")).json()
        return seen["shown"] if seen["shown"] == "available" else None

    await eventually(shown, what="available presence on the holder")
    # The proxy is read at the next connect, by the node that makes the client.
    assert (await api.http.post(f"/v1/instances/{name}/restart")).status_code == 202
    live = worker.state.manager.live_client(name)
    assert isinstance(live, SimulatorClient) and live.instance.proxy == PROXY
    await wait_status(api.http, name, "connected")
    live.sink(IncomingCall("call-1", "5511987654321@s.whatsapp.net"))
    await worker.state.manager.settled(name)
    assert engine_of(worker).rejected_calls[live.instance.id] == ["call-1"]
