"""The retry decision after one delivery attempt."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from wagate.webhooks.retry import (
    DeliveryStatus,
    RetryPolicy,
    decide,
    parse_retry_after,
)
from wagate.webhooks.sender import host_of

POLICY = RetryPolicy(max_attempts=5, base_delay_s=2.0, max_delay_s=60.0)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("code", [200, 201, 202, 204, 299])
def test_2xx_is_delivered(code: int) -> None:
    decision = decide(POLICY, attempts=1, status_code=code, now=NOW)
    assert decision.status is DeliveryStatus.DELIVERED and decision.next_attempt_at is None
    assert decision.outcome == "delivered"


@pytest.mark.parametrize("code", [400, 401, 403, 404, 410, 413, 422])
def test_4xx_fails_at_once(code: int) -> None:
    decision = decide(POLICY, attempts=1, status_code=code, now=NOW)
    assert decision.status is DeliveryStatus.FAILED and decision.outcome == "failed"


@pytest.mark.parametrize("code", [None, 301, 408, 429, 500, 502, 503])
def test_others_are_retried_until_the_last_attempt(code: int | None) -> None:
    retry = decide(POLICY, attempts=4, status_code=code, now=NOW)
    assert retry.status is DeliveryStatus.PENDING and retry.outcome == "retried"
    assert retry.next_attempt_at is not None and retry.next_attempt_at > NOW
    last = decide(POLICY, attempts=5, status_code=code, now=NOW)
    assert last.status is DeliveryStatus.FAILED


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    for attempts, step in [(1, 2.0), (2, 4.0), (3, 8.0), (5, 32.0), (6, 60.0), (30, 60.0)]:
        delays = [POLICY.backoff(attempts) for _ in range(200)]
        assert all(step * 0.5 <= d <= step for d in delays)
        assert len(set(delays)) > 100  # jittered, not one fixed value


def test_retry_after_is_a_floor_within_the_cap() -> None:
    decision = decide(POLICY, attempts=1, status_code=429, now=NOW, retry_after_s=30)
    assert decision.next_attempt_at is not None
    assert decision.next_attempt_at - NOW >= timedelta(seconds=30)
    assert POLICY.backoff(1, retry_after_s=10_000) <= 60.0


@pytest.mark.parametrize(
    ("value", "expected"), [("12", 12.0), (" 0 ", 0.0), ("-1", None), ("soon", None), (None, None)]
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:pw@hooks.example.com/t/SECRET?key=abc", "hooks.example.com"),
        ("http://127.0.0.1:8080/x", "127.0.0.1:8080"),
        ("not a url", "?"),
        ("http://[::1", "?"),
    ],
)
def test_logs_show_only_the_host(url: str, shown: str) -> None:
    assert host_of(url) == shown
