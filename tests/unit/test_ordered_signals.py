"""OrderedSignals: queue entries of committed sends go out in commit order, per instance."""

from __future__ import annotations

import asyncio

from wagate.messages.service import OrderedSignals


async def test_entries_go_out_in_commit_order_per_instance() -> None:
    sent: list[dict[str, list[int]]] = []
    release = asyncio.Event()

    async def send(batches: dict[str, list[int]]) -> None:
        sent.append(batches)
        await release.wait()

    signals = OrderedSignals(send)
    signals.push({"a": [1, 2]})
    await asyncio.sleep(0)  # the first batch is on its way
    # Committed while the first is in flight: they go together next, in commit order.
    signals.push({"b": [3], "a": [4]})
    signals.push({"a": [5], "c": [6]})
    release.set()
    await signals.drain(1)
    assert sent == [{"a": [1, 2]}, {"b": [3], "a": [4, 5], "c": [6]}]


async def test_drain_gives_up_after_its_bound() -> None:
    async def stuck(_: dict[str, list[int]]) -> None:
        await asyncio.Event().wait()

    signals = OrderedSignals(stuck)
    signals.push({"a": [1]})
    await asyncio.sleep(0)
    started = asyncio.get_running_loop().time()
    await signals.drain(0.2)  # the reconciler queues what was not sent
    assert asyncio.get_running_loop().time() - started < 2
