"""The one exponential backoff: send retries, webhook retries, reconnects and engine-host
restarts all wait `delay(...)`, each with its own base, cap and randomness."""

from __future__ import annotations

# 2**62 times any sane base is far past every cap, and a long outage's attempt count must not
# overflow the float (2.0**1024 does).
MAX_DOUBLINGS = 62


def delay(doublings: int, base_s: float, max_s: float, jitter: float = 1.0) -> float:
    """`base_s` doubled `doublings` times (a negative count is none), capped at `max_s`, then
    spread by `jitter` in [0, 1]: 0 waits half the step, 1 all of it ("equal jitter": never
    less than half, so a herd of retries does not bunch up at zero). The caller draws the
    jitter (`random.random()`), so a test chooses it; 1.0, the default, spreads nothing."""
    step = min(max_s, base_s * 2.0 ** min(max(0, doublings), MAX_DOUBLINGS))
    return step * (0.5 + jitter / 2)
