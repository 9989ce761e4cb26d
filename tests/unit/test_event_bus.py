"""The event bus on its own: sinks, watchers, live subscribers, the per-owner cap, ending
streams, and the interest hooks."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from wagate.events.bus import (
    ADMIN_OWNER,
    SUBSCRIBER_BUFFER,
    Event,
    EventBus,
    TooManyStreams,
)

DATA = {"status": "connected"}


async def publish(bus: EventBus, instance: str = "one", event: str = "connection_update") -> Event:
    return await bus.publish(instance, 7, event, dict(DATA))


def drained(queue: asyncio.Queue[Event | None]) -> list[Event | None]:
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items


async def test_publish_makes_the_event_and_its_envelope() -> None:
    event = await publish(EventBus())
    assert event.id.startswith("evt_") and event.timestamp.tzinfo is not None
    assert (event.instance, event.instance_id, event.event) == ("one", 7, "connection_update")
    envelope = event.envelope()
    assert envelope["timestamp"].endswith("Z") and "+00:00" not in envelope["timestamp"]
    assert envelope == {
        "id": event.id,
        "event": "connection_update",
        "instance": "one",
        "timestamp": envelope["timestamp"],
        "data": DATA,
    }
    assert (await publish(EventBus())).id != event.id


async def test_sinks_are_awaited_in_order_before_publish_returns() -> None:
    bus = EventBus()
    seen: list[tuple[str, str]] = []

    def sink(name: str) -> Any:
        async def receive(event: Event) -> None:
            await asyncio.sleep(0.01)  # a durable write
            seen.append((name, event.id))

        return receive

    bus.add_sink(sink("outbox"))
    bus.add_sink(sink("other"))
    event = await publish(bus)
    assert seen == [("outbox", event.id), ("other", event.id)]


async def test_a_failing_sink_or_watcher_stops_nothing_else() -> None:
    bus = EventBus()
    sunk: list[Event] = []
    watched: list[Event] = []

    async def broken_sink(event: Event) -> None:
        raise RuntimeError("receiver down")

    def broken_watcher(event: Event) -> None:
        raise RuntimeError("watcher bug")

    async def sink(event: Event) -> None:
        sunk.append(event)

    bus.add_sink(broken_sink)
    bus.add_sink(sink)
    bus.watch(broken_watcher)
    bus.watch(watched.append)
    async with bus.subscribe("one") as queue:
        event = await publish(bus)  # does not raise
        assert drained(queue) == [event]
    assert sunk == [event] and watched == [event]


async def test_subscribers_get_their_instance_only_and_nothing_after_leaving() -> None:
    bus = EventBus()
    async with bus.subscribe("one") as one, bus.subscribe("two") as two:
        first = await publish(bus, "one")
        second = await publish(bus, "two")
        assert drained(one) == [first] and drained(two) == [second]
    assert not bus.interested()
    await publish(bus, "one")
    assert drained(one) == []


async def test_watchers_see_every_instance_and_relayed_events() -> None:
    bus = EventBus()
    watched: list[Event] = []
    bus.watch(watched.append)
    local = await publish(bus, "one")
    relayed = Event("evt_x", "message_ack", "two", 9, local.timestamp, {})
    bus.fan_out(relayed)  # from another node: no sink runs again
    assert watched == [local, relayed]


async def test_a_subscriber_that_stops_reading_is_cut_off_alone() -> None:
    bus = EventBus()
    async with bus.subscribe("one") as slow, bus.subscribe("one") as fast:
        for _ in range(SUBSCRIBER_BUFFER):
            await publish(bus)
            fast.get_nowait()
        assert slow.full()
        last = await publish(bus)  # one too many for the slow one
        assert fast.get_nowait() == last
        items = drained(slow)
        assert items[-1] is None  # its stream ends, with the end marker as last item
        await publish(bus)
        assert drained(slow) == [] and fast.qsize() == 1


async def test_owners_are_capped_and_their_slots_freed() -> None:
    bus = EventBus()
    async with bus.subscribe("one", "token-a", max_per_owner=2):
        async with bus.subscribe("two", "token-a", max_per_owner=2):
            assert bus.streams_of("token-a") == 2
            with pytest.raises(TooManyStreams):
                async with bus.subscribe("one", "token-a", max_per_owner=2):
                    pass
            async with bus.subscribe("one", "token-b", max_per_owner=2):
                assert bus.streams_of("token-b") == 1  # another owner has its own cap
        assert bus.streams_of("token-a") == 1
    assert bus.streams_of("token-a") == 0
    async with bus.subscribe("one", "token-a", max_per_owner=0):  # 0: no cap
        pass


async def test_end_streams_spares_admin_streams_unless_told() -> None:
    bus = EventBus()
    hooked: list[tuple[str, bool]] = []
    watched: list[str] = []

    async def hook(instance: str, *, admin_too: bool) -> None:
        hooked.append((instance, admin_too))

    async def broken_hook(instance: str, *, admin_too: bool) -> None:
        raise RuntimeError("relay down")

    bus.on_end_streams(broken_hook)
    bus.on_end_streams(hook)
    bus.watch_end_streams(watched.append)
    async with (
        bus.subscribe("one", ADMIN_OWNER) as admin,
        bus.subscribe("one", "token-hash") as token,
        bus.subscribe("two", "token-hash") as other,
    ):
        await bus.end_streams("one", admin_too=False)  # the token was rotated
        assert drained(token) == [None] and drained(admin) == []
        await bus.end_streams("one", admin_too=True)  # the instance was deleted
        assert drained(admin) == [None]
        assert drained(other) == []
    assert hooked == [("one", False), ("one", True)]
    assert watched == ["one", "one"]


async def test_close_ends_every_stream() -> None:
    bus = EventBus()
    async with bus.subscribe("one") as one, bus.subscribe("two") as two:
        bus.close_instance("one")
        assert drained(one) == [None] and drained(two) == []
        bus.close()
        assert drained(two) == [None]


async def test_interest_comes_from_subscribers_and_probes() -> None:
    bus = EventBus()
    wanted: list[str] = []
    waiting = False

    async def relay_listens() -> None:
        wanted.append("listen")

    bus.on_interest(relay_listens)
    bus.add_interest(lambda: waiting)
    assert not bus.interested()
    async with bus.subscribe("one"):
        assert bus.interested() and wanted == ["listen"]  # subscribing asked for the relay
    assert not bus.interested()
    waiting = True
    assert bus.interested()
    await bus.want()
    assert wanted == ["listen", "listen"]
