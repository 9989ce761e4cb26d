"""The tests' one poll loop: it returns what the check found, and when it gives up it says
what it waited for and what it last saw."""

from __future__ import annotations

import itertools
import re

import pytest

from tests.support.polling import eventually, eventually_sync


async def test_returns_the_first_true_value() -> None:
    counter = itertools.count()

    async def third() -> int | None:
        n = next(counter)
        return n if n >= 2 else None

    assert await eventually(third, interval=0.001) == 2
    assert eventually_sync(lambda: next(counter) >= 5 or None, interval=0.001) is True


async def test_gives_up_naming_what_it_awaited() -> None:
    async def never() -> int:
        return 0

    message = re.escape("timed out after 0.05 s waiting for the answer (last: 0)")
    with pytest.raises(AssertionError, match=message):
        await eventually(never, timeout=0.05, interval=0.01, what="the answer")
    # Without a description, the check's own name.
    with pytest.raises(AssertionError, match=r"waiting for .*never"):
        await eventually(never, timeout=0.01, interval=0.01)
    with pytest.raises(AssertionError, match=r"waiting for the file \(last: ''\)"):
        eventually_sync(lambda: "", timeout=0.01, interval=0.01, what="the file")


def test_says_what_it_saw_when_told_how() -> None:
    events = ["connecting", "pairing"]
    with pytest.raises(AssertionError, match=re.escape("(last: ['connecting', 'pairing'])")):
        eventually_sync(
            lambda: "connected" in events, timeout=0.01, interval=0.01, seen=lambda: events
        )
