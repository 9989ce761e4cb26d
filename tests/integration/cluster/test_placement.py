"""The placement rule on snapshots: fair share, taking free instances, giving back excess."""

from __future__ import annotations

from wagate.cluster.placement import fair_share, plan


def test_fair_share_is_the_ceiling() -> None:
    assert fair_share(30, 3) == 10
    assert fair_share(31, 3) == 11
    assert fair_share(0, 3) == 0
    assert fair_share(5, 0) == 5


def test_a_node_below_its_share_takes_free_instances() -> None:
    wanted = range(1, 31)
    holders = {i: "b" for i in range(1, 11)}
    decision = plan("a", wanted, holders, ["a", "b", "c"])
    assert decision.share == 10 and decision.room == 10
    assert set(decision.candidates) == set(range(11, 31))
    # Two nodes prefer different orders, so that they do not race for the same instances.
    other = plan("c", wanted, holders, ["a", "b", "c"])
    assert other.candidates != decision.candidates


def test_a_node_at_its_share_does_nothing() -> None:
    holders = {i: ("a" if i <= 10 else "b") for i in range(1, 21)}
    decision = plan("a", range(1, 31), holders, ["a", "b", "c"])
    assert decision.room == 0 and decision.release == []


def test_a_new_node_makes_the_others_give_back_their_excess() -> None:
    holders = {i: ("a" if i <= 15 else "b") for i in range(1, 31)}
    decision = plan("a", range(1, 31), holders, ["a", "b", "c"], releasable=range(1, 16))
    assert decision.share == 10
    assert len(decision.release) == 5 and set(decision.release) <= set(range(1, 16))


def test_excess_is_kept_while_nobody_else_has_room() -> None:
    # b is dead (not live): a holds more than the share of the live nodes only if others lack
    # room; here c is full, so nothing moves.
    holders = {i: ("a" if i <= 16 else "c") for i in range(1, 31)}
    decision = plan("a", range(1, 31), holders, ["a", "c"], releasable=range(1, 17))
    assert decision.share == 15
    assert len(decision.release) == 1  # c holds 14: room for exactly one


def test_only_releasable_instances_move() -> None:
    holders = {i: ("a" if i <= 15 else "b") for i in range(1, 31)}
    decision = plan("a", range(1, 31), holders, ["a", "b", "c"], releasable=[1, 2])
    assert sorted(decision.release) == [1, 2]


def test_a_node_that_is_not_live_takes_nothing() -> None:
    decision = plan("a", range(1, 5), {}, ["b"])
    assert decision.room == 0 and decision.candidates == []
