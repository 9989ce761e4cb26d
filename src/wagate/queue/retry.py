"""The retry policy of a send: a decision value, not a side effect."""

from __future__ import annotations

from dataclasses import dataclass

from wagate import backoff


@dataclass(frozen=True, slots=True)
class Decision:
    retry: bool
    delay_s: float = 0.0


def decide(
    attempts: int, max_attempts: int, permanent: bool, base_s: float, max_s: float, jitter: float
) -> Decision:
    """After `attempts` failed tries: try again (after an exponential, jittered delay) or stop.

    `jitter` is a number in [0, 1) so that the caller (or a test) chooses the randomness.
    """
    if permanent or attempts >= max_attempts:
        return Decision(retry=False)
    return Decision(retry=True, delay_s=backoff.delay(attempts - 1, base_s, max_s, jitter))
