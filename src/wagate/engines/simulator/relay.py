"""Group notices between the nodes of a cluster: what a simulated group tells its members
reaches a member instance connected to another node.

The node where a change happens hands the event to its own connected members at once, and
writes one row per member instance connected elsewhere (`simulator_group_notices`, addressed
to that node). Each node reads the rows addressed to it a few times a second, in order, hands
them to its clients and deletes them. Only a cluster has other nodes: a single node writes
and reads none.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import structlog

from wagate.db import Database, utcnow
from wagate.engines.base import (
    GroupParticipantsUpdate,
    GroupUpdate,
    InboundMedia,
    InboundMessage,
)
from wagate.engines.simulator.repository import notices
from wagate.tasks import wait_tasks

log = structlog.get_logger(__name__)

GroupEvent = GroupUpdate | GroupParticipantsUpdate | InboundMessage
KINDS: dict[str, type[Any]] = {
    cls.__name__: cls for cls in (GroupUpdate, GroupParticipantsUpdate, InboundMessage)
}
POLL_S = 0.2
BATCH = 500
# Notices no node took within this long were for a node that is gone: dropped, as a phone
# that stays offline for good never gets them either.
STALE_S = 60.0
SWEEP_EVERY = 100  # polls between two sweeps of stale notices
STOP_WAIT_S = 5.0


def encode(event: GroupEvent) -> dict[str, Any]:
    """The event as JSON values: its type, RFC 3339 timestamps, base64 media."""
    values = dataclasses.asdict(event)
    values["timestamp"] = event.timestamp.isoformat()
    if isinstance(event, InboundMessage) and event.media is not None:
        values["media"]["data"] = base64.b64encode(event.media.data).decode("ascii")
    return {"type": type(event).__name__, "values": values}


def decode(data: dict[str, Any]) -> GroupEvent:
    cls = KINDS[data["type"]]
    values = dict(data["values"])
    values["timestamp"] = datetime.fromisoformat(values["timestamp"])
    if cls is InboundMessage:
        media = values.get("media")
        if media is not None:
            values["media"] = InboundMedia(
                base64.b64decode(media["data"]), media["mimetype"], media.get("filename")
            )
        values["mentions"] = tuple(values.get("mentions") or ())
    event: GroupEvent = cls(**values)
    return event


class NoticeRelay:
    """One node's side: `forward` writes the notices for the other nodes, `start` reads this
    node's own and gives each to `hand(instance_id, event)`."""

    def __init__(self, db: Database, node: str, hand: Callable[[int, GroupEvent], None]) -> None:
        self.db = db
        self.node = node
        self.hand = hand
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def forward(self, recipients: set[str], event: GroupEvent) -> None:
        """A row for every instance of `recipients` connected to another node."""
        if not recipients:
            return
        async with self.db.transaction() as session:
            targets = await notices.connected_elsewhere(session, self.node, recipients)
            if targets:
                encoded = encode(event)
                rows = [{"node": n, "instance_id": i, "event": encoded} for i, n in targets]
                await notices.add(session, rows)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"simulator-notices:{self.node}")

    async def close(self) -> None:
        # Not cancelled in a query (that would leave a broken pooled connection): told to stop,
        # it ends after its current step.
        self._stop.set()
        if self._task is not None:
            await wait_tasks([self._task], STOP_WAIT_S, "simulator group notices")

    async def _run(self) -> None:
        polls = 0
        while not self._stop.is_set():
            polls += 1
            try:
                await self.drain()
                if polls % SWEEP_EVERY == 0:
                    await self.sweep()
            except Exception:
                log.exception("simulator group notices failed", node=self.node)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), POLL_S)

    async def sweep(self) -> None:
        cutoff = utcnow() - timedelta(seconds=STALE_S)
        async with self.db.transaction() as session:
            await notices.sweep(session, cutoff)

    async def drain(self) -> int:
        """Hand over the notices addressed to this node, oldest first; how many there were."""
        async with self.db.transaction() as session:
            rows = await notices.take(session, self.node, BATCH)
        for _, instance_id, event in rows:
            try:
                self.hand(instance_id, decode(event))
            except (KeyError, TypeError, ValueError):
                log.warning("unreadable simulator group notice dropped", node=self.node)
        return len(rows)
