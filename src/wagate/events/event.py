"""One event as every consumer sees it, and its envelope: the webhook body, the SSE message's
data, the message relayed between nodes all carry these fields."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any


def new_event_id() -> str:
    return "evt_" + uuid.uuid4().hex


def isoformat(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Event:
    id: str
    event: str
    instance: str
    instance_id: int
    timestamp: datetime
    data: dict[str, Any]

    def envelope(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "event": self.event,
            "instance": self.instance,
            "timestamp": isoformat(self.timestamp),
            "data": self.data,
        }
