"""What one delivery attempt writes, without a database: the delivery worker's outcome table."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from wagate.webhooks.delivery import outcome_of
from wagate.webhooks.repository import Claimed
from wagate.webhooks.retry import DeliveryStatus, RetryPolicy
from wagate.webhooks.sender import Attempt

POLICY = RetryPolicy(max_attempts=3, base_delay_s=2.0, max_delay_s=60.0)
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def attempt(status_code: int | None, before: int = 0, *, tried: bool = True) -> Attempt:
    item = Claimed("d1", 7, "message_ack", "http://127.0.0.1/h", "instance", "{}", before, "tok")
    error = None if status_code and status_code < 300 else "x" * 1500
    return Attempt(item, NOW, status_code, error, 12, tried=tried)


# (status code, attempts before, tried) -> (status, attempts after, metric label, retried)
TABLE = [
    (200, 0, True, DeliveryStatus.DELIVERED, 1, "delivered", False),
    (204, 2, True, DeliveryStatus.DELIVERED, 3, "delivered", False),
    (500, 0, True, DeliveryStatus.PENDING, 1, "retried", True),
    (None, 1, True, DeliveryStatus.PENDING, 2, "retried", True),
    (429, 1, True, DeliveryStatus.PENDING, 2, "retried", True),
    (500, 2, True, DeliveryStatus.FAILED, 3, "failed", False),
    (404, 0, True, DeliveryStatus.FAILED, 1, "failed", False),
    (None, 1, False, DeliveryStatus.FAILED, 1, "failed", False),  # its webhook is gone
]


@pytest.mark.parametrize(("code", "before", "tried", "status", "after", "label", "retried"), TABLE)
def test_outcome_of(
    code: int | None,
    before: int,
    tried: bool,
    status: DeliveryStatus,
    after: int,
    label: str,
    retried: bool,
) -> None:
    written = outcome_of(attempt(code, before, tried=tried), POLICY, NOW)
    assert (written.status, written.attempts, written.label) == (status, after, label)
    outcome = written.outcome
    assert outcome["id"] == "d1" and outcome["claim_token"] == "tok"
    assert outcome["status"] == status.value and outcome["attempts"] == after
    assert (outcome["next_attempt_at"] is not None) == retried
    if retried:
        assert outcome["next_attempt_at"] > NOW
    assert outcome["delivered_at"] == (NOW if status is DeliveryStatus.DELIVERED else None)
    assert (written.attempt is not None) == tried
    if outcome["last_error"] is not None:
        assert len(outcome["last_error"]) == 1000  # clipped
    if written.attempt is not None:
        assert written.attempt["delivery_id"] == "d1" and written.attempt["duration_ms"] == 12


def test_every_status_is_in_the_table() -> None:
    assert {row[3] for row in TABLE} == set(DeliveryStatus)
