"""Group changes the engines report, published as `group_update` and `group_participants`."""

from __future__ import annotations

from typing import Protocol, cast

from wagate.engines.base import GroupParticipantsUpdate, GroupUpdate, InstanceRef
from wagate.events.bus import isoformat
from wagate.events.payloads import (
    GroupAction,
    GroupChanges,
    GroupParticipantsData,
    GroupUpdateData,
    Party,
)
from wagate.node import HasBus
from wagate.phones import phone_of


def party(jid: str | None) -> Party | None:
    return None if jid is None else Party(jid=jid, phone=phone_of(jid))


def group_event_payload(
    event: GroupUpdate | GroupParticipantsUpdate,
) -> GroupUpdateData | GroupParticipantsData:
    """The API event of a group engine event."""
    if isinstance(event, GroupUpdate):
        return GroupUpdateData(
            group=event.group,
            actor=party(event.actor),
            changes=cast(GroupChanges, dict(event.changes)),
            timestamp=isoformat(event.timestamp),
        )
    return GroupParticipantsData(
        group=event.group,
        actor=party(event.actor),
        action=cast(GroupAction, event.action),
        participants=[Party(jid=jid, phone=phone_of(jid)) for jid in event.participants],
        timestamp=isoformat(event.timestamp),
    )


class GroupEventsNode(HasBus, Protocol):
    """What publishing group events uses of the node."""


class GroupEvents:
    """The client manager's group hook (wired in the app's lifespan)."""

    def __init__(self, state: GroupEventsNode) -> None:
        self.state = state

    async def __call__(
        self, ref: InstanceRef, event: GroupUpdate | GroupParticipantsUpdate
    ) -> None:
        await self.state.bus.publish(ref.name, ref.id, group_event_payload(event))
