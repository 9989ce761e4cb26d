"""The one exponential backoff, and that each of its callers keeps its own parameters."""

from __future__ import annotations

import random

import pytest

from wagate.backoff import MAX_DOUBLINGS, delay
from wagate.queue.retry import decide
from wagate.webhooks.retry import RetryPolicy


def test_doubles_from_the_base_without_jitter() -> None:
    assert [delay(n, 0.5, 1000.0) for n in range(5)] == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert delay(-5, 3.0, 60.0) == 3.0  # a negative count is no doubling


@pytest.mark.parametrize("doublings", [0, 3, 10, MAX_DOUBLINGS, MAX_DOUBLINGS + 1, 10**9])
def test_capped_and_never_overflowing(doublings: int) -> None:
    value = delay(doublings, 2.0, 45.0)
    assert 0 < value <= 45.0
    if doublings >= 5:
        assert value == 45.0


@pytest.mark.parametrize("doublings", [0, 2, 20])
def test_jitter_spreads_between_half_and_all_of_the_step(doublings: int) -> None:
    step = delay(doublings, 1.0, 30.0)
    assert delay(doublings, 1.0, 30.0, 0.0) == step / 2
    assert delay(doublings, 1.0, 30.0, 0.5) == step * 0.75
    drawn = [delay(doublings, 1.0, 30.0, random.random()) for _ in range(500)]
    assert all(step / 2 <= d <= step for d in drawn)
    assert len(set(drawn)) > 400  # spread, not one value


def test_send_retries_count_doublings_from_the_first_failed_try() -> None:
    for attempts in (1, 2, 5, 40):
        made = decide(attempts, 100, False, 1.5, 90.0, 0.3)
        assert made.retry and made.delay_s == delay(attempts - 1, 1.5, 90.0, 0.3)


def test_webhook_retries_use_the_same_steps() -> None:
    policy = RetryPolicy(max_attempts=10, base_delay_s=2.0, max_delay_s=60.0)
    for attempts in (1, 3, 9, 2000):
        step = delay(attempts - 1, 2.0, 60.0)
        assert all(step / 2 <= policy.backoff(attempts) <= step for _ in range(50))
