"""The send policy's pure decisions (wagate.policy.rules): each rule, the warm-up across days,
the quiet hours across a time-zone boundary, the breaker's cool-down."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from wagate.policy import rules
from wagate.policy.rules import BreakerState, Hold, Target
from wagate.policy.schemas import Breaker, PerRecipient, Policy, QuietHours, Warmup

NOON = datetime(2026, 3, 10, 12, 0, 30, tzinfo=UTC)
OLD = Target("5511900000001@s.whatsapp.net", new=False)
NEW = Target("5511900000002@s.whatsapp.net", new=True)


def decide(
    policy: Policy, counts: dict[str, int], now: datetime = NOON, **kw: object
) -> Hold | None:
    state = kw.pop("state", BreakerState())
    target = kw.pop("target", OLD)
    assert isinstance(state, BreakerState)
    return rules.decide(policy, state, counts, now, target)  # type: ignore[arg-type]


def test_no_policy_lets_everything_go() -> None:
    assert decide(Policy(), {rules.SENDS_DAY: 10**9}) is None


@pytest.mark.parametrize(
    ("field", "counter", "resets"),
    [
        ("per_minute", rules.SENDS_MINUTE, datetime(2026, 3, 10, 12, 1, tzinfo=UTC)),
        ("per_hour", rules.SENDS_HOUR, datetime(2026, 3, 10, 13, 0, tzinfo=UTC)),
        ("per_day", rules.SENDS_DAY, datetime(2026, 3, 11, 0, 0, tzinfo=UTC)),
    ],
)
def test_caps_hold_until_their_window_ends(field: str, counter: str, resets: datetime) -> None:
    policy = Policy.model_validate({field: 5})
    assert decide(policy, {counter: 4}) is None
    assert decide(policy, {counter: 5}) == Hold(resets, field)


def test_day_cap_follows_the_time_zone() -> None:
    # 23:30 in UTC is 08:30 the next day in Tokyo: the day there ends at 15:00 UTC.
    policy = Policy(per_day=1, timezone="Asia/Tokyo")
    late = datetime(2026, 3, 10, 23, 30, tzinfo=UTC)
    assert decide(policy, {rules.SENDS_DAY: 1}, late) == Hold(
        datetime(2026, 3, 11, 15, 0, tzinfo=UTC), "per_day"
    )


def test_the_hold_that_ends_last_wins() -> None:
    policy = Policy(per_minute=1, per_day=1)
    hold = decide(policy, {rules.SENDS_MINUTE: 1, rules.SENDS_DAY: 1})
    assert hold is not None and hold.rule == "per_day"


def test_warmup_grows_by_the_day_up_to_its_ceiling() -> None:
    policy = Policy(warmup=Warmup(start=50, factor=2, ceiling=300), per_day=1000)
    started = BreakerState(warmup_started_at=NOON - timedelta(hours=11))
    caps = [rules.warmup_cap(policy, started, NOON + timedelta(days=day)) for day in range(0, 5)]
    assert caps == [50, 100, 200, 300, 300]
    assert rules.warmup_day(policy, started, NOON + timedelta(days=2)) == 3
    assert decide(policy, {rules.SENDS_DAY: 49}, state=started) is None
    held = decide(policy, {rules.SENDS_DAY: 50}, state=started)
    assert held == Hold(datetime(2026, 3, 11, tzinfo=UTC), "warmup")
    # The next day the cap doubled: the same count goes.
    assert decide(policy, {}, NOON + timedelta(days=1), state=started) is None
    assert rules.day_limit(policy, started, NOON + timedelta(days=9)) == (300, "warmup")
    assert rules.day_limit(Policy(per_day=10, warmup=Warmup()), started, NOON) == (10, "per_day")


def test_warmup_days_are_local_days() -> None:
    # Started at 23:00 UTC = 08:00 the next day in Tokyo; by 16:00 UTC it is day 2 there.
    policy = Policy(warmup=Warmup(start=10), timezone="Asia/Tokyo")
    state = BreakerState(warmup_started_at=datetime(2026, 3, 10, 23, 0, tzinfo=UTC))
    assert rules.warmup_day(policy, state, datetime(2026, 3, 11, 14, 0, tzinfo=UTC)) == 1
    assert rules.warmup_day(policy, state, datetime(2026, 3, 11, 16, 0, tzinfo=UTC)) == 2


def test_quiet_hours_across_midnight_in_the_instance_zone() -> None:
    quiet = QuietHours(start=time(22), end=time(8))
    # 03:00 UTC is 22:00 in New York (EST, -05:00) the day before: quiet until 13:00 UTC.
    zone = "America/New_York"
    assert rules.quiet_until(quiet, zone, datetime(2026, 1, 15, 2, 59, tzinfo=UTC)) is None
    assert rules.quiet_until(quiet, zone, datetime(2026, 1, 15, 3, 0, tzinfo=UTC)) == datetime(
        2026, 1, 15, 13, 0, tzinfo=UTC
    )
    # After local midnight (still the UTC day): the same end.
    assert rules.quiet_until(quiet, zone, datetime(2026, 1, 15, 9, 0, tzinfo=UTC)) == datetime(
        2026, 1, 15, 13, 0, tzinfo=UTC
    )
    assert rules.quiet_until(quiet, zone, datetime(2026, 1, 15, 13, 0, tzinfo=UTC)) is None
    policy = Policy(quiet_hours=quiet, timezone=zone)
    assert decide(policy, {}, datetime(2026, 1, 15, 4, 0, tzinfo=UTC)) == Hold(
        datetime(2026, 1, 15, 13, 0, tzinfo=UTC), "quiet_hours"
    )


def test_quiet_hours_within_a_day_and_a_dst_change() -> None:
    quiet = QuietHours(start=time(12), end=time(14))
    zone = "Europe/Berlin"
    # 29 March 2026: Berlin moves to CEST (+02:00).
    before = datetime(2026, 3, 28, 11, 30, tzinfo=UTC)  # 12:30 CET
    after = datetime(2026, 3, 29, 10, 30, tzinfo=UTC)  # 12:30 CEST
    assert rules.quiet_until(quiet, zone, before) == datetime(2026, 3, 28, 13, 0, tzinfo=UTC)
    assert rules.quiet_until(quiet, zone, after) == datetime(2026, 3, 29, 12, 0, tzinfo=UTC)


def test_per_recipient_limit_counts_one_chat() -> None:
    policy = Policy(per_recipient=PerRecipient(limit=2, period_s=3600))
    key = rules.RECIPIENT + OLD.jid
    assert decide(policy, {key: 1}) is None
    assert decide(policy, {key: 2}) == Hold(
        datetime(2026, 3, 10, 13, 0, tzinfo=UTC), "per_recipient"
    )
    other = Target("5511900000009@s.whatsapp.net", new=False)
    assert decide(policy, {key: 2}, target=other) is None


def test_new_conversation_cap_holds_new_chats_only() -> None:
    policy = Policy(new_conversations_per_day=3)
    counts = {rules.NEW_DAY: 3}
    assert decide(policy, counts, target=OLD) is None
    assert decide(policy, counts, target=NEW) == Hold(
        datetime(2026, 3, 11, tzinfo=UTC), "new_conversations"
    )
    keys = {w.key for w in rules.counted_windows(policy, NOON, OLD)}
    assert rules.NEW_DAY not in keys
    assert rules.NEW_DAY in {w.key for w in rules.counted_windows(policy, NOON, NEW)}


def test_a_check_of_several_numbers_needs_room_for_all() -> None:
    policy = Policy(per_minute=10)
    state = BreakerState()
    assert rules.decide(policy, state, {rules.SENDS_MINUTE: 5}, NOON, None, amount=5) is None
    assert rules.decide(policy, state, {rules.SENDS_MINUTE: 5}, NOON, None, amount=6) is not None


def test_paused_holds_until_the_cooldown_ends() -> None:
    until = NOON + timedelta(minutes=5)
    state = BreakerState(paused_until=until, reason="rate_limited")
    assert decide(Policy(), {}, state=state) == Hold(until, "paused")
    assert decide(Policy(), {}, until, state=state) is None


def test_cooldown_doubles_on_repeat_and_starts_over_after_a_day() -> None:
    breaker = Breaker(cooldown_s=300, cooldown_max_s=1000)
    assert [rules.cooldown_s(breaker, trips) for trips in (1, 2, 3, 9)] == [300, 600, 1000, 1000]
    recent = BreakerState(trips=2, last_trip_at=NOON - timedelta(hours=1))
    assert rules.trips_after(recent, NOON) == 3
    stale = BreakerState(trips=5, last_trip_at=NOON - timedelta(days=2))
    assert rules.trips_after(stale, NOON) == 1


def test_failure_rate_needs_enough_sends() -> None:
    breaker = Breaker(failure_rate=0.5, min_sends=4)
    assert not rules.failure_rate_trips(breaker, sent=0, failed=3)
    assert rules.failure_rate_trips(breaker, sent=2, failed=2)
    assert not rules.failure_rate_trips(breaker, sent=3, failed=1)
    assert not rules.failure_rate_trips(Breaker(), sent=0, failed=1000)  # off unless set


def test_policy_rejects_unknown_zone() -> None:
    with pytest.raises(ValueError, match="unknown time zone"):
        Policy(timezone="Mars/Olympus")


def test_breaker_codes_are_declared_once_and_simulated() -> None:
    from typing import get_args

    from wagate.engine_failures import BREAKER_CODES, STATUS
    from wagate.engines.actions import SEND
    from wagate.engines.simulator.engine import ABUSE_ANSWERS
    from wagate.instances.simulator_routes import FaultsIn

    assert set(STATUS) >= BREAKER_CODES and set(SEND.failures) >= BREAKER_CODES
    assert set(ABUSE_ANSWERS) == BREAKER_CODES
    kinds = set(get_args(get_args(FaultsIn.model_fields["fail_kind"].annotation)[0]))
    assert kinds >= BREAKER_CODES
