"""When the serving process freezes its heap again: once the number of instances it holds has
moved far from the frozen number and held still, fully only after it shrank."""

from __future__ import annotations

import gc

from wagate.heap import CHANGE_MIN, Freeze, Refreezer, freeze


def test_a_growth_that_settles_freezes_the_young_objects_once() -> None:
    refreezer = Refreezer(frozen_at=0, last=0)
    assert refreezer.due(4_000) is None  # still growing
    assert refreezer.due(10_000) is None
    assert refreezer.due(10_000) == Freeze(full=False)  # settled, far from 0
    assert refreezer.due(10_000) is None  # frozen at 10,000 now


def test_small_moves_do_not_count() -> None:
    refreezer = Refreezer(frozen_at=10_000, last=10_000)
    for now in (10_500, 10_500, 9_000, 9_000, 12_000, 12_000):
        assert refreezer.due(now) is None  # within a quarter of 10,000
    small = Refreezer(frozen_at=10, last=10)
    assert small.due(10 + CHANGE_MIN - 1) is None
    assert small.due(10 + CHANGE_MIN - 1) is None  # a quarter of 10 is less than the minimum


def test_a_shrink_that_settles_collects_everything_first() -> None:
    refreezer = Refreezer(frozen_at=10_000, last=10_000)
    assert refreezer.due(2_000) is None
    assert refreezer.due(2_000) == Freeze(full=True)


def test_freeze_leaves_the_heap_frozen_and_can_be_undone() -> None:
    thresholds = gc.get_threshold()
    try:
        freeze(full=False)
        assert gc.get_freeze_count() > 0
        freeze(full=True)
        assert gc.get_freeze_count() > 0
    finally:
        # A test process starts and drops many apps: nothing may stay frozen here.
        gc.unfreeze()
        gc.set_threshold(*thresholds)
