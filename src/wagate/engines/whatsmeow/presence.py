"""The account's own presence through neonize (always_online, and the presence action)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from neonize.utils.enum import Presence

from wagate.engines.actions import SEND_PRESENCE, PresenceRequest, handle
from wagate.engines.actions.spec import Handler

if TYPE_CHECKING:
    from wagate.engines.whatsmeow.actions import Actions

PRESENCES = {"available": Presence.AVAILABLE, "unavailable": Presence.UNAVAILABLE}


def presence_handlers(actions: Actions) -> list[tuple[str, Handler]]:
    async def send_presence(request: PresenceRequest) -> None:
        client = actions.session.require_connected()
        presence = PRESENCES[request.state]
        await actions.bounded(client.send_presence(presence), "presence")

    return [handle(SEND_PRESENCE, send_presence)]
