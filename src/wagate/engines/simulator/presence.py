"""The account's own presence on the simulated network: what the instance was shown as.

The other side sees the last presence an account sent; the simulator keeps every one it was
sent, per instance (across its clients: a reconnect sends it again), for tests and the
simulator's control routes to read.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from wagate.db import utcnow

if TYPE_CHECKING:
    from wagate.engines.simulator.engine import SimulatorClient

MAX_KEPT = 100  # per instance: a record for reading, not a log


def record_presence(client: SimulatorClient, state: str) -> None:
    sent = client.engine.presence_sent.setdefault(client.instance.id, [])
    sent.append((state, utcnow()))
    del sent[:-MAX_KEPT]


def presence_of(sent: list[tuple[str, datetime]]) -> str | None:
    """What the contacts see: the last presence sent (None: never sent one)."""
    return sent[-1][0] if sent else None
