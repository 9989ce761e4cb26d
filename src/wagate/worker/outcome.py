"""What a failed send does next, decided without I/O: the sender (`worker/sender.py`) carries
it out."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from wagate.engines.base import EngineFailure, PermanentEngineError
from wagate.queue.retry import decide


class Next(Enum):
    WAIT_CONNECTION = "wait_connection"  # the connection went away: no attempt is spent
    RETRY = "retry"  # the same message again, after a backoff
    DEAD_LETTER = "dead_letter"  # its attempts are spent
    FAIL = "fail"  # the engine says trying again gives the same answer


@dataclass(frozen=True, slots=True)
class AfterFailure:
    next: Next
    code: str = "engine_error"  # the error code recorded with the message
    delay_s: float = 0.0  # before a retry
    unexpected: bool = False  # not an engine's failure: worth a traceback in the log

    @property
    def failed(self) -> bool:
        return self.next in (Next.DEAD_LETTER, Next.FAIL)


@dataclass(frozen=True, slots=True)
class RetryDelays:
    base_s: float
    max_s: float


def after_failure(
    exc: Exception,
    *,
    connected: bool,
    attempts: int,
    max_attempts: int,
    policy: RetryDelays,
    jitter: float,
) -> AfterFailure:
    """After a send raised `exc` on its `attempts`-th try; `connected`: whether the instance
    is still connected, read after the failure."""
    if isinstance(exc, PermanentEngineError):
        return AfterFailure(Next.FAIL, exc.code)
    if not connected:
        return AfterFailure(Next.WAIT_CONNECTION)
    code = exc.code if isinstance(exc, EngineFailure) else "engine_error"
    unexpected = not isinstance(exc, EngineFailure)
    decision = decide(attempts, max_attempts, False, policy.base_s, policy.max_s, jitter)
    if not decision.retry:
        return AfterFailure(Next.DEAD_LETTER, code, unexpected=unexpected)
    return AfterFailure(Next.RETRY, code, decision.delay_s, unexpected)
