"""The people around the account, as events: presence, calls, contact changes, blocklist."""

from __future__ import annotations

from wagate.db import utcnow
from wagate.engines.base import (
    BlocklistUpdate,
    ContactUpdate,
    IncomingCall,
    InstanceRef,
    PresenceUpdate,
)
from wagate.events.bus import EventBus, isoformat
from wagate.events.payloads import (
    BlocklistUpdateData,
    CallData,
    ContactUpdateData,
    Payload,
    PresenceData,
)

PeopleEvent = PresenceUpdate | ContactUpdate | BlocklistUpdate | IncomingCall


def without_device(jid: str) -> str:
    """whatsmeow's caller names the device that called ("user:3@server"): the API gives the
    person."""
    user, _, server = jid.partition("@")
    return f"{user.split(':', 1)[0]}@{server}"


def payload(event: PeopleEvent) -> Payload:
    if isinstance(event, PresenceUpdate):
        last_seen = isoformat(event.last_seen) if event.last_seen else None
        return PresenceData(
            chat=event.chat, contact=event.contact, state=event.state, last_seen=last_seen
        )
    if isinstance(event, IncomingCall):
        return CallData(
            call_id=event.call_id,
            from_=without_device(event.caller),
            status=event.status,
            video=event.video,
            timestamp=isoformat(event.timestamp or utcnow()),
        )
    if isinstance(event, ContactUpdate):
        known = {k: v for k, v in event.changes.items() if k in ContactUpdateData.model_fields}
        return ContactUpdateData(contact=event.contact, **known)
    return BlocklistUpdateData(contact=event.contact, action=event.action)


class PeopleEvents:
    """The client manager's people hook: each engine event published as its API event."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus

    async def __call__(self, instance: InstanceRef, event: PeopleEvent) -> None:
        data = payload(event)
        await self.bus.publish(instance.name, instance.id, data)
