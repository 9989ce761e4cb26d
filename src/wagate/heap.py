"""The serving process's heap, frozen for the garbage collector (`gc.freeze`) once it has
settled, and frozen again when the instances it holds change a lot.

CPython's full collections traverse every tracked object. Frozen, the objects of a node's
start (modules, app, pools) and of its instances (slots, clients, tasks) are left out: a node
that took 10,000 instances after it started spent about a third of a core on full collections
while idle (py-spy, `bench.fleet`), set off by the rows each placement pass reads.

A freeze after the instances grew collects only the young objects first: a full collection
of a node's heap holds the GIL for as long as it takes (1.5 s at 10,000 instances), and the
lease renewals wait for the GIL. After the instances shrank it unfreezes and collects all
first, once: the cycles of the instances that left are freed then rather than kept for ever.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable
from dataclasses import dataclass

import structlog

log = structlog.get_logger(__name__)

CHECK_S = 2.0
THRESHOLDS = (10_000, 10, 100)  # CPython's default: (700, 10, 10)
# How far the number of instances may move from the frozen count before the heap is frozen
# again (once the number has held still for a check): a relative and an absolute margin, so
# neither a few instances on a small node nor each connect on a big one sets it off.
CHANGE_FRACTION = 0.25
CHANGE_MIN = 100


def freeze(*, full: bool) -> None:
    started = time.monotonic()
    if full:
        gc.unfreeze()
        gc.collect()  # garbage (cycles included) is freed, not frozen with the rest
    else:
        gc.collect(1)  # the young garbage; what is older was frozen before
    gc.freeze()
    # Frozen objects no longer count as long-lived, and CPython then ran a full collection
    # at almost every middle one (a third of what was left of an idle node's CPU, measured
    # with gc.callbacks at 10,000 instances): full ones a tenth as often, young ones after
    # more allocations (what a placement pass or a renewal round allocates dies young).
    gc.set_threshold(*THRESHOLDS)
    log.info(
        "heap frozen",
        objects=gc.get_freeze_count(),
        took_ms=round(1000 * (time.monotonic() - started)),
    )


@dataclass(frozen=True)
class Freeze:
    full: bool  # unfreeze and collect everything first


@dataclass
class Refreezer:
    """Decides, at each check, whether the heap is frozen again."""

    frozen_at: int = 0  # instances when last frozen
    last: int = 0  # instances at the last check

    def due(self, now: int) -> Freeze | None:
        settled, self.last = now == self.last, now
        margin = max(CHANGE_MIN, CHANGE_FRACTION * self.frozen_at)
        if not settled or abs(now - self.frozen_at) < margin:
            return None
        full = now < self.frozen_at  # instances left: their frozen cycles are garbage now
        self.frozen_at = now
        return Freeze(full=full)


async def keep_frozen(instances: Callable[[], int]) -> None:
    """Freeze now, then again whenever the number of instances has settled far from the
    number at the last freeze. Runs until cancelled."""
    freeze(full=True)  # at start the heap is small
    count = instances()
    refreezer = Refreezer(frozen_at=count, last=count)
    while True:
        await asyncio.sleep(CHECK_S)
        if (due := refreezer.due(instances())) is not None:
            freeze(full=due.full)
