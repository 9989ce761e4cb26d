"""What to do after one delivery attempt: a decision as a value, so it is tested on its own."""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from wagate import backoff


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


FINAL = frozenset({DeliveryStatus.DELIVERED, DeliveryStatus.FAILED})
# A 4xx says the receiver will not take this event; retrying cannot help, except for
# "timed out" and "slow down".
RETRYABLE_4XX = frozenset({408, 429})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int
    base_delay_s: float
    max_delay_s: float

    def backoff(self, attempts: int, retry_after_s: float | None = None) -> float:
        """Seconds before the next try after `attempts` failed tries: exponential, with jitter
        (between half and all of the step, so that receivers coming back are not stampeded)."""
        delay = backoff.delay(attempts - 1, self.base_delay_s, self.max_delay_s, random.random())
        if retry_after_s is not None:
            delay = max(delay, min(retry_after_s, self.max_delay_s))
        return delay


@dataclass(frozen=True, slots=True)
class Decision:
    status: DeliveryStatus
    next_attempt_at: datetime | None

    @property
    def outcome(self) -> str:
        """The metric label: delivered, retried or failed."""
        return "retried" if self.status is DeliveryStatus.PENDING else self.status.value


def is_success(status_code: int | None) -> bool:
    return status_code is not None and 200 <= status_code < 300


def is_permanent(status_code: int | None) -> bool:
    return status_code is not None and 400 <= status_code < 500 and status_code not in RETRYABLE_4XX


def decide(
    policy: RetryPolicy,
    *,
    attempts: int,
    status_code: int | None,
    now: datetime,
    retry_after_s: float | None = None,
) -> Decision:
    """`attempts` counts the try just made; `status_code` is None for a network error or a
    timeout."""
    if is_success(status_code):
        return Decision(DeliveryStatus.DELIVERED, None)
    if is_permanent(status_code) or attempts >= policy.max_attempts:
        return Decision(DeliveryStatus.FAILED, None)
    delay = policy.backoff(attempts, retry_after_s)
    return Decision(DeliveryStatus.PENDING, now + timedelta(seconds=delay))


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the HTTP-date form is rare for webhooks and is ignored)."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None
