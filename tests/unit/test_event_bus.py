"""The event bus and its sinks (wagate.events.sinks): what each kind of sink is handed, in
which order, and what a failing one does to the others."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Literal

import pytest

from wagate.events.bus import ADMIN_OWNER, EVERY_INSTANCE, EventBus
from wagate.events.event import Event
from wagate.events.payloads import MessageAckData, QrUpdatedData
from wagate.events.streams import SUBSCRIBER_BUFFER, TooManyStreams

ACK = MessageAckData(correlation_id="c1", status="sent", attempts=1, message_id="m1")


@dataclass
class Durable:
    name: str
    log: list[str]
    fail: bool = False
    only: str | None = None
    durable: Literal[True] = True
    seen: list[Event] = field(default_factory=list)

    def accepts(self, event: Event) -> bool:
        return self.only is None or event.event == self.only

    async def deliver(self, event: Event) -> None:
        self.log.append(f"{self.name} deliver")
        if self.fail:
            raise RuntimeError("broken receiver")
        self.seen.append(event)

    async def start(self) -> None:
        self.log.append(f"{self.name} start")

    async def stop(self) -> None:
        self.log.append(f"{self.name} stop")
        if self.fail:
            raise RuntimeError("broken receiver")


@dataclass
class Live:
    name: str
    log: list[str]
    fail: bool = False
    durable: Literal[False] = False
    seen: list[Event] = field(default_factory=list)

    def accepts(self, event: Event) -> bool:
        return True

    def offer(self, event: Event) -> None:
        self.log.append(f"{self.name} offer")
        if self.fail:
            raise RuntimeError("broken receiver")
        self.seen.append(event)

    async def start(self) -> None:
        self.log.append(f"{self.name} start")

    async def stop(self) -> None:
        self.log.append(f"{self.name} stop")


@dataclass
class Bridge(Live):
    ended: list[tuple[str, bool]] = field(default_factory=list)
    wanted: int = 0

    async def want(self) -> None:
        self.wanted += 1

    async def end_streams(self, instance: str, *, admin_too: bool) -> None:
        self.ended.append((instance, admin_too))


async def test_publish_names_the_event_by_its_model_and_keeps_its_data() -> None:
    bus = EventBus()
    log: list[str] = []
    sink = Durable("outbox", log)
    bus.add_sink(sink)
    event = await bus.publish("alpha", 7, ACK)
    assert (event.event, event.instance, event.instance_id) == ("message_ack", "alpha", 7)
    assert event.data == ACK.data()
    assert event.envelope()["event"] == "message_ack"
    assert sink.seen == [event]


async def test_durable_sinks_are_awaited_before_the_live_ones_and_one_failure_stops_none() -> None:
    bus = EventBus()
    log: list[str] = []
    outbox, live = Durable("outbox", log), Live("ws", log)
    for sink in (Durable("broken", log, fail=True), outbox, live):
        bus.add_sink(sink)
    event = await bus.publish("alpha", 1, ACK)
    assert log == ["broken deliver", "outbox deliver", "ws offer"]
    assert outbox.seen == [event] and live.seen == [event]


async def test_a_failing_live_sink_does_not_keep_the_event_from_the_streams() -> None:
    bus = EventBus()
    bus.add_sink(Live("broken", [], fail=True))
    async with bus.subscribe("alpha") as queue:
        event = await bus.publish("alpha", 1, ACK)
        assert queue.get_nowait() is event


async def test_a_sink_is_handed_only_the_events_it_accepts() -> None:
    bus = EventBus()
    qr_only = Durable("qr", [], only="qr_updated")
    bus.add_sink(qr_only)
    await bus.publish("alpha", 1, ACK)
    qr = await bus.publish("alpha", 1, QrUpdatedData(code="x", expires_at="2026-01-01T00:00:00Z"))
    assert qr_only.seen == [qr]


async def test_events_from_a_bridge_reach_the_other_live_sinks_only() -> None:
    bus = EventBus()
    log: list[str] = []
    outbox, bridge, watcher = Durable("outbox", log), Bridge("relay", log), Live("ws", log)
    for sink in (outbox, bridge, watcher):
        bus.add_sink(sink)
    remote = await EventBus().publish("alpha", 1, ACK)  # as another node published it
    async with bus.subscribe("alpha") as queue:
        assert bridge.wanted == 1  # a stream opening brings other nodes' events in
        bus.fan_out(remote, origin=bridge)
        assert queue.get_nowait() is remote
    assert log == ["ws offer"]
    assert outbox.seen == [] and bridge.seen == []


async def test_sinks_start_in_order_and_stop_durable_first_even_past_a_failure() -> None:
    bus = EventBus()
    log: list[str] = []
    bus.add_sink(Durable("outbox", log, fail=True))
    bus.add_sink(Live("relay", log))
    await bus.start()
    await bus.start()  # a second start starts nothing twice
    bus.add_sink(Live("late", log))
    bus.add_sink(Durable("amqp", log))
    await bus.start()
    await bus.stop()
    assert log == [
        "outbox start",
        "relay start",
        "amqp start",
        "late start",
        "amqp stop",
        "outbox stop",  # fails: the others are stopped all the same
        "late stop",
        "relay stop",
    ]
    await bus.stop()  # stops nothing twice
    assert len(log) == 8


async def test_the_end_of_an_instance_streams_goes_here_and_through_the_bridges() -> None:
    bus = EventBus()
    bridge = Bridge("relay", [])
    bus.add_sink(bridge)
    forgotten: list[str] = []
    bus.watch_end_streams(forgotten.append)
    async with bus.subscribe("alpha", owner="token") as mine, bus.subscribe("alpha") as admin:
        await bus.end_streams("alpha", admin_too=False)
        assert mine.get_nowait() is None
        assert admin.empty()  # the admin's stream outlives a token rotation
    assert bridge.ended == [("alpha", False)]
    assert forgotten == ["alpha"]


async def test_streams_per_owner_are_capped() -> None:
    bus = EventBus()
    async with bus.subscribe("alpha", "token", max_per_owner=1):
        assert bus.streams_of("token") == 1
        with pytest.raises(TooManyStreams):
            async with bus.subscribe("beta", "token", max_per_owner=1):
                pass
    assert bus.streams_of("token") == 0


# --- live subscribers (the SSE streams) --------------------------------------------------


async def publish(bus: EventBus, instance: str = "one") -> Event:
    return await bus.publish(instance, 7, ACK)


def drained(queue: asyncio.Queue[Event | None]) -> list[Event | None]:
    items = []
    while not queue.empty():
        items.append(queue.get_nowait())
    return items


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


async def test_end_streams_spares_admin_streams_unless_told() -> None:
    bus = EventBus()
    watched: list[str] = []
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
    assert watched == ["one", "one"]


async def test_close_ends_every_stream() -> None:
    bus = EventBus()
    async with bus.subscribe("one") as one, bus.subscribe("two") as two:
        bus.close_instance("one")
        assert drained(one) == [None] and drained(two) == []
        bus.close()
        assert drained(two) == [None]


async def test_streams_of_several_or_every_instance_and_why_each_ended() -> None:
    bus = EventBus()
    async with (
        bus.subscribe(EVERY_INSTANCE) as every,
        bus.subscribe(("one", "two")) as named,
        bus.subscribe("one", "token", buffer=1) as small,
    ):
        sent = [await publish(bus, "one"), await publish(bus, "two"), await publish(bus, "three")]
        assert drained(every) == sent
        assert drained(named) == sent[:2]
        more = await publish(bus, "one")
        assert drained(every) == drained(named) == [more]
        assert drained(small) == [None]  # its one place was taken: cut off at the second
        assert bus.streams.why_ended(small) == "overflow"
        bus.end_streams_here("two", admin_too=True)
        assert drained(named) == [None] and bus.streams.why_ended(named) == "ended"
        assert bus.streams.why_ended(every) is None  # not one instance's: a deletion spares it
        bus.close()
        assert drained(every) == [None] and bus.streams.why_ended(every) == "shutdown"
    assert not bus.streams.open()


async def test_resume_after_an_id_in_the_window_and_a_gap_past_it() -> None:
    bus = EventBus(recent_events=3)
    sent = [await publish(bus, name) for name in ("one", "two", "one", "one")]
    resumed = bus.recent.resume(sent[1].id, ("one",))
    assert not resumed.gap and resumed.missed == sent[2:]
    # A live event the stream got both ways goes out once.
    assert not resumed.fresh(sent[2]) and resumed.fresh(sent[2])
    assert bus.recent.resume(sent[0].id, None).gap  # dropped from a window of 3
    assert bus.recent.resume(None, None).missed == []
