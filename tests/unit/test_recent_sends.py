"""RecentSends: the sends recorded lately on a node, bounded, the oldest forgotten first."""

from __future__ import annotations

from wagate.messages.recent import RecentSends


def test_a_send_recorded_is_found_by_instance_and_message_id() -> None:
    recent = RecentSends(size=10)
    recent.add([(1, "m1", 100, "c1"), (2, "m1", 101, "c2")])
    assert recent.get((1, "m1")) == (100, "c1")
    assert recent.get((2, "m1")) == (101, "c2")
    assert recent.get((1, "m2")) is None


def test_the_oldest_sends_are_forgotten_past_the_size() -> None:
    recent = RecentSends(size=3)
    recent.add((1, f"m{n}", n, f"c{n}") for n in range(5))
    assert len(recent) == 3
    assert [recent.get((1, f"m{n}")) for n in range(5)] == [
        None,
        None,
        (2, "c2"),
        (3, "c3"),
        (4, "c4"),
    ]
    recent.add([(1, "m5", 5, "c5")])
    assert recent.get((1, "m2")) is None and recent.get((1, "m5")) == (5, "c5")
