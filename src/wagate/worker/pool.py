"""The workers of a node: one sender task per instance whose client lives here."""

from __future__ import annotations

import asyncio

import structlog

from wagate.messages.outcomes import Outcomes
from wagate.queue.base import Queue
from wagate.tasks import cancel_requested, stop_tasks, wait_tasks
from wagate.worker.sender import InstanceSender, SenderNode, SendWrites

log = structlog.get_logger(__name__)

# The client manager starts each instance's sender as the instance comes to the node; the scan
# only restarts one that ended as its instance left and came back at once.
SCAN_INTERVAL_S = 5.0
STOP_GRACE_S = 5.0


class WorkerPool:
    def __init__(self, state: SenderNode, queue: Queue, outcomes: Outcomes) -> None:
        self.state = state
        self.queue = queue
        self.outcomes = outcomes
        self.writes = SendWrites(state.db, state.recent_sends)
        self.senders: dict[str, InstanceSender] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self._scanner: asyncio.Task[None] | None = None
        self._closing = False
        state.manager.add_join_hook(self._joined)
        state.manager.add_offline_hook(self._offline)

    def _joined(self, name: str) -> None:
        # Before start, the scan at start finds the instance.
        if self._scanner is not None and not self._closing:
            self.ensure(name)

    def _offline(self, name: str) -> None:
        # A sender waiting on its queue looks at its instance's connection only when it wakes:
        # woken when the connection goes, it takes nothing it cannot send (or that the
        # instance's new holder should).
        if name in self.senders:
            self.queue.interrupt(name)

    def start(self) -> None:
        self._scanner = asyncio.create_task(self._scan(), name="worker-scan")

    def ensure(self, name: str) -> None:
        """Run a sender for `name` if its client lives on this node and none runs yet."""
        if self.state.manager.status_of(name) is None:
            return
        task = self.tasks.get(name)
        if task is not None and not task.done():
            return
        log.debug("sender started", instance=name)
        sender = InstanceSender(self.state, self.queue, self.outcomes, name, self.writes)
        self.senders[name] = sender
        self.tasks[name] = asyncio.create_task(sender.run(), name=f"sender:{name}")

    async def _scan(self) -> None:
        while not cancel_requested():
            for name in self.state.manager.names():
                self.ensure(name)
            await asyncio.sleep(SCAN_INTERVAL_S)

    async def close(self) -> None:
        self._closing = True
        if self._scanner is not None:
            await stop_tasks([self._scanner], STOP_GRACE_S, "worker scan")
        for sender in self.senders.values():
            sender.stop()
        # Let each sender finish the message in hand; what is left stays queued.
        await wait_tasks(self.tasks.values(), STOP_GRACE_S, "senders")
        # A sender cancelled in the middle of a claim or a write leaves that batch to finish.
        await self.writes.step.drain()
        await self.writes.keep.drain()
