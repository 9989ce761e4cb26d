"""The workers of a node: one sender task per instance whose client lives here."""

from __future__ import annotations

import asyncio

import structlog

from wagate.cluster.repository import names_on_node
from wagate.messages.outcomes import Outcomes
from wagate.queue.base import Queue
from wagate.tasks import cancel_requested, stop_tasks, wait_tasks
from wagate.worker.sender import InstanceSender, SenderNode, SendWrites

log = structlog.get_logger(__name__)

SCAN_INTERVAL_S = 0.5
STOP_GRACE_S = 5.0


class WorkerPool:
    def __init__(self, state: SenderNode, queue: Queue, outcomes: Outcomes) -> None:
        self.state = state
        self.queue = queue
        self.outcomes = outcomes
        self.writes = SendWrites(state.db)
        self.senders: dict[str, InstanceSender] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self._scanner: asyncio.Task[None] | None = None
        # A sender waiting on its queue looks whether its instance is still here only when it
        # wakes: woken when the instance leaves, it takes nothing the new holder should.
        state.manager.add_leave_hook(self._left)

    def _left(self, name: str) -> None:
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
        # The node column says which instances this node holds (it also covers instances
        # taken over from another node later, without a hook into the client manager).
        node = self.state.settings.node_id
        while not cancel_requested():
            try:
                async with self.state.db.session() as session:
                    for name in await names_on_node(session, node):
                        self.ensure(name)
            except Exception as exc:
                log.warning("worker scan failed", error=str(exc))
            await asyncio.sleep(SCAN_INTERVAL_S)

    async def close(self) -> None:
        if self._scanner is not None:
            await stop_tasks([self._scanner], STOP_GRACE_S, "worker scan")
        for sender in self.senders.values():
            sender.stop()
        # Let each sender finish the message in hand; what is left stays queued.
        await wait_tasks(self.tasks.values(), STOP_GRACE_S, "senders")
        # A sender cancelled in the middle of a claim or a write leaves that batch to finish.
        await self.writes.step.drain()
        await self.writes.keep.drain()
