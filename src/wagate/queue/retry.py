"""The retry policy of a send: a decision value, not a side effect."""

from __future__ import annotations

from dataclasses import dataclass


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
    delay = min(max_s, base_s * 2 ** (attempts - 1))
    # "Equal jitter": at least half the delay, so retries never bunch up at zero.
    return Decision(retry=True, delay_s=delay / 2 + delay / 2 * jitter)
