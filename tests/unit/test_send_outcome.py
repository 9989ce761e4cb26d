"""What a failed send does next: the decision table of the sender, without I/O."""

from __future__ import annotations

import pytest

from wagate.engines.base import (
    EngineFailure,
    NotConnectedError,
    PermanentEngineError,
    TransientEngineError,
)
from wagate.worker.outcome import AfterFailure, Next, RetryDelays, after_failure

DELAYS = RetryDelays(base_s=1.0, max_s=30.0)

# (exception, still connected, attempts so far, max attempts) -> the step
TABLE: list[tuple[Exception, bool, int, int, AfterFailure]] = [
    # the engine says it is final: failed at once, connected or not, attempts left or not
    (
        PermanentEngineError("no", "not_on_whatsapp"),
        True,
        1,
        5,
        AfterFailure(Next.FAIL, "not_on_whatsapp"),
    ),
    (PermanentEngineError("no"), False, 1, 5, AfterFailure(Next.FAIL, "engine_error")),
    (
        PermanentEngineError("no", "media_rejected"),
        True,
        5,
        5,
        AfterFailure(Next.FAIL, "media_rejected"),
    ),
    # the connection went away: wait for it, whatever the failure and the attempts
    (TransientEngineError("down"), False, 1, 5, AfterFailure(Next.WAIT_CONNECTION)),
    (NotConnectedError("down"), False, 5, 5, AfterFailure(Next.WAIT_CONNECTION)),
    (RuntimeError("bug"), False, 5, 5, AfterFailure(Next.WAIT_CONNECTION)),
    # still connected: retried with backoff while attempts are left
    (TransientEngineError("slow"), True, 1, 5, AfterFailure(Next.RETRY, "engine_error", 1.0)),
    (NotConnectedError("x"), True, 3, 5, AfterFailure(Next.RETRY, "instance_not_connected", 4.0)),
    (RuntimeError("bug"), True, 1, 5, AfterFailure(Next.RETRY, "engine_error", 1.0, True)),
    (EngineFailure("x"), True, 4, 5, AfterFailure(Next.RETRY, "engine_error", 8.0)),
    # ... and dead-lettered once they are spent
    (TransientEngineError("slow"), True, 5, 5, AfterFailure(Next.DEAD_LETTER, "engine_error")),
    (RuntimeError("bug"), True, 6, 5, AfterFailure(Next.DEAD_LETTER, "engine_error", 0.0, True)),
    (NotConnectedError("x"), True, 1, 1, AfterFailure(Next.DEAD_LETTER, "instance_not_connected")),
]


@pytest.mark.parametrize(("exc", "connected", "attempts", "max_attempts", "expected"), TABLE)
def test_after_failure(
    exc: Exception, connected: bool, attempts: int, max_attempts: int, expected: AfterFailure
) -> None:
    step = after_failure(
        exc,
        connected=connected,
        attempts=attempts,
        max_attempts=max_attempts,
        policy=DELAYS,
        jitter=1.0,  # no spread: the delays of the table are exact
    )
    assert step == expected
    assert step.failed == (step.next in (Next.FAIL, Next.DEAD_LETTER))


def test_every_next_step_is_in_the_table() -> None:
    assert {row[-1].next for row in TABLE} == set(Next)


def test_retry_delay_is_jittered_and_capped() -> None:
    def delay(attempts: int, jitter: float) -> float:
        step = after_failure(
            TransientEngineError("x"),
            connected=True,
            attempts=attempts,
            max_attempts=100,
            policy=DELAYS,
            jitter=jitter,
        )
        assert step.next is Next.RETRY
        return step.delay_s

    assert delay(1, 0.0) == DELAYS.base_s / 2 and delay(1, 1.0) == DELAYS.base_s
    assert delay(50, 1.0) == DELAYS.max_s
