"""The send policy as the API shows and takes it, and as it is stored."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import BaseModel, ConfigDict, Field, field_validator


def known_zone(value: str) -> str:
    if value not in available_timezones() and value != "UTC":
        raise ValueError(f"unknown time zone '{value}'")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone '{value}'") from None
    return value


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Warmup(Strict):
    """A daily cap for a newly linked number: `start` on day 1, times `factor` each day after,
    up to `ceiling` (then the day cap alone)."""

    start: int = Field(50, ge=1, le=1_000_000)
    factor: float = Field(2.0, ge=1.0, le=10.0)
    ceiling: int = Field(1000, ge=1, le=10_000_000)


class QuietHours(Strict):
    """Local times (the policy's time zone) between which nothing is sent; `start` after
    `end` spans midnight."""

    start: time = Field(description="HH:MM, the time sending stops", examples=["22:00"])
    end: time = Field(description="HH:MM, the time sending starts again", examples=["08:00"])

    @field_validator("start", "end")
    @classmethod
    def _no_zone(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError("a local time, without an offset: the policy's timezone applies")
        return value


class PerRecipient(Strict):
    limit: int = Field(ge=1, le=1_000_000, description="messages to one chat per period")
    period_s: int = Field(3600, ge=1, le=30 * 86400)


class Breaker(Strict):
    """When the instance's sending pauses on its own besides WhatsApp's rate-limit and spam
    answers: a failure rate over `failure_rate` (null: never) among at least `min_sends` sends
    of the last `window_s` seconds. The pause lasts `cooldown_s`, doubled on each repeat up to
    `cooldown_max_s`; a day without a pause starts over."""

    # Off unless set: a burst of failures of the sender's own making (a list of numbers not on
    # WhatsApp) should fail those messages, not stop the rest.
    failure_rate: float | None = Field(None, gt=0.0, le=1.0)
    min_sends: int = Field(20, ge=1, le=100_000)
    window_s: int = Field(600, ge=1, le=86400)
    cooldown_s: int = Field(300, ge=1, le=7 * 86400)
    cooldown_max_s: int = Field(6 * 3600, ge=1, le=30 * 86400)


class Policy(Strict):
    """The send policy of an instance. A limit left null does not apply."""

    per_minute: int | None = Field(None, ge=1, le=1_000_000)
    per_hour: int | None = Field(None, ge=1, le=10_000_000)
    per_day: int | None = Field(None, ge=1, le=100_000_000)
    warmup: Warmup | None = None
    quiet_hours: QuietHours | None = None
    timezone: str = Field("UTC", description="IANA time zone of the day and the quiet hours")
    per_recipient: PerRecipient | None = None
    new_conversations_per_day: int | None = Field(None, ge=1, le=1_000_000)
    breaker: Breaker = Field(default_factory=Breaker)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return known_zone(value)

    def counts_sends(self) -> bool:
        """Whether a send is counted at all (else the policy costs no I/O per send)."""
        return any(
            value is not None
            for value in (
                self.per_minute,
                self.per_hour,
                self.per_day,
                self.warmup,
                self.per_recipient,
                self.new_conversations_per_day,
            )
        )


class PolicyPatch(Strict):
    """Fields to change; a field set to null removes that limit."""

    per_minute: int | None = Field(None, ge=1, le=1_000_000)
    per_hour: int | None = Field(None, ge=1, le=10_000_000)
    per_day: int | None = Field(None, ge=1, le=100_000_000)
    warmup: Warmup | None = None
    quiet_hours: QuietHours | None = None
    timezone: str | None = None
    per_recipient: PerRecipient | None = None
    new_conversations_per_day: int | None = Field(None, ge=1, le=1_000_000)
    breaker: Breaker | None = None
    restart_warmup: bool = Field(False, description="Day 1 of the warm-up is today.")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return None if value is None else known_zone(value)


class CounterOut(BaseModel):
    count: int
    limit: int | None = Field(None, description="null: no limit")
    resets_at: datetime


class HeldOut(BaseModel):
    count: int = Field(
        description="messages held: while the first queued message is held, every queued "
        "message of the instance (they keep their order)"
    )
    rule: str | None = Field(None, description="the rule that holds the first of them")
    until: datetime | None = None


class PolicyOut(BaseModel):
    state: str = Field(description="`active`, or `paused` by the circuit breaker")
    paused_reason: str | None = None
    paused_until: datetime | None = None
    trips: int = Field(description="times the breaker opened in a row")
    policy: Policy
    warmup_day: int | None = Field(None, description="day of the warm-up, 1 on the first")
    day_limit: int | None = Field(None, description="today's cap: the day cap and the warm-up")
    counters: dict[str, CounterOut]
    held: HeldOut
    next_send_at: datetime | None = Field(None, description="when the next send may go (null: now)")
    next_rule: str | None = Field(None, description="the rule that holds it until then")
