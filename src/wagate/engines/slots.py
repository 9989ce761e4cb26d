"""The slot of an instance held on this node, and its event pump.

An engine reports events from its own threads or tasks; they are queued on the slot with the
generation of the client that reported them, and one pump task per slot hands them, in order,
to the client manager.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import structlog

from wagate.engines.base import EngineClient, EngineEvent, InstanceRef, QrCode
from wagate.engines.status import LIVE, Status
from wagate.tasks import wait_tasks

log = structlog.get_logger("wagate.engines.manager")

PUMP_DRAIN_S = 10.0  # a slot's event pump gets this long to finish the events in its queue

# (slot, generation of the client that reported it, event)
EventHandler = Callable[["Slot", int, EngineEvent], Awaitable[None]]


@dataclass(eq=False)
class Slot:
    """This node's hold on one instance."""

    ref: InstanceRef
    engine: str
    status: Status
    reject_calls: bool = False
    always_online: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    client: EngineClient | None = None
    generation: int = 0
    qr: QrCode | None = None
    reconnect_task: asyncio.Task[None] | None = None
    reconnect_attempt: int = 0
    deleted: bool = False
    # None ends the pump: it finishes the event in hand rather than being cancelled mid-write.
    events: asyncio.Queue[tuple[int, EngineEvent] | None] = field(default_factory=asyncio.Queue)
    pump: asyncio.Task[None] | None = None
    busy: bool = False  # the pump is handling an event it took off the queue
    touched_at: float = float("-inf")  # monotonic time of the last last_event_at write
    # Set while the status is connected: what the instance's sender waits on, rather than
    # polling the status (thousands of senders polling kept a node busy doing nothing).
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    # The settings of the row the slot was made from, and when (monotonic) they were read: a
    # connect right after that uses them instead of reading the row again.
    read_settings: dict[str, Any] | None = None
    read_at: float = float("-inf")


def resumed_status(recorded: Status) -> Status:
    """The status a new slot starts in: a live status recorded by a node that stopped is
    left over, since nothing runs here yet."""
    return Status.DISCONNECTED if recorded in LIVE else recorded


def is_settled(slot: Slot) -> bool:
    """Every event reported so far is handled, and no lifecycle call holds the lock."""
    return slot.events.empty() and not slot.lock.locked() and not slot.busy


def count_statuses(slots: Iterable[Slot]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for slot in slots:
        counts[slot.status.value] = counts.get(slot.status.value, 0) + 1
    return counts


def start_pump(slot: Slot, handle: EventHandler) -> None:
    slot.pump = asyncio.create_task(_pump(slot, handle), name=f"events:{slot.ref.name}")


async def end_pump(slot: Slot) -> None:
    pump = slot.pump
    if pump is None or pump.done():
        return
    slot.events.put_nowait(None)
    await wait_tasks([pump], PUMP_DRAIN_S, f"event pump of {slot.ref.name}")


async def _pump(slot: Slot, handle: EventHandler) -> None:
    while True:
        item = await slot.events.get()
        if item is None:
            return
        generation, event = item
        slot.busy = True
        try:
            await handle(slot, generation, event)
        except Exception:
            log.exception("event handling failed", instance=slot.ref.name)
        finally:
            slot.busy = False
