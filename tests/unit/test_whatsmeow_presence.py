"""The whatsmeow engine's presence action: the account's presence as neonize's own enum."""

from __future__ import annotations

from typing import Any

import pytest
from neonize.utils.enum import Presence

from wagate.engines.actions import SEND_PRESENCE, PresenceRequest
from wagate.engines.base import NotConnectedError
from wagate.engines.whatsmeow.actions import Actions
from wagate.engines.whatsmeow.gate import LifecycleGate
from wagate.engines.whatsmeow.session import Session


class HostDouble:
    def __init__(self) -> None:
        self.gate = LifecycleGate()


class ClientDouble:
    """Records what neonize's send_presence was given (a network call in the real one)."""

    def __init__(self) -> None:
        self.sent: list[Any] = []

    async def send_presence(self, presence: Presence) -> None:
        self.sent.append(presence)


async def test_presence_is_sent_as_neonize_presence() -> None:
    session = Session(HostDouble(), 1)  # type: ignore[arg-type]
    actions = Actions(session, 5.0)
    with pytest.raises(NotConnectedError):
        await actions.table.run(SEND_PRESENCE, PresenceRequest("available"))
    client = ClientDouble()
    session.client, session.state = client, "connected"
    await actions.table.run(SEND_PRESENCE, PresenceRequest("available"))
    await actions.table.run(SEND_PRESENCE, PresenceRequest("unavailable"))
    assert client.sent == [Presence.AVAILABLE, Presence.UNAVAILABLE]
