"""What the send policy decides, without I/O: given the policy, the breaker's state, the
counters and the clock's time, whether a send (or a contacts check) may go now, or until when
it is held and by which rule. The service (`policy/service.py`) reads the counters and the
state, and the worker's sender carries the decision out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from wagate.policy.schemas import Breaker, Policy, QuietHours

# The rules, by the name a held message shows in `held_by`.
PAUSED = "paused"
QUIET_HOURS = "quiet_hours"
PER_MINUTE = "per_minute"
PER_HOUR = "per_hour"
PER_DAY = "per_day"
WARMUP = "warmup"
PER_RECIPIENT = "per_recipient"
NEW_CONVERSATIONS = "new_conversations"

# The counters (a send counts in each that applies to it).
SENDS_MINUTE = "sends:minute"
SENDS_HOUR = "sends:hour"
SENDS_DAY = "sends:day"
NEW_DAY = "new_conversations:day"
RECIPIENT = "to:"  # + the chat's JID


@dataclass(frozen=True, slots=True)
class Target:
    """What a send is to: its chat, and whether that chat was never written to before. A
    contacts check has none (the caps and the quiet hours apply, not the rest)."""

    jid: str
    new: bool


@dataclass(frozen=True, slots=True)
class BreakerState:
    paused_until: datetime | None = None
    reason: str | None = None
    trips: int = 0
    last_trip_at: datetime | None = None
    warmup_started_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Window:
    """One counter in its current window: the window's index and when it ends (the store
    forgets it a while after)."""

    key: str
    index: int
    ends: datetime


@dataclass(frozen=True, slots=True)
class Hold:
    until: datetime
    rule: str


def _epoch_window(key: str, now: datetime, seconds: int) -> Window:
    index = int(now.timestamp() // seconds)
    return Window(key, index, datetime.fromtimestamp((index + 1) * seconds, UTC))


def local_day(policy: Policy, now: datetime) -> date:
    return now.astimezone(ZoneInfo(policy.timezone)).date()


def _local_midnight_after(policy: Policy, day: date) -> datetime:
    zone = ZoneInfo(policy.timezone)
    return datetime.combine(day + timedelta(days=1), time(0), zone).astimezone(UTC)


def day_window(key: str, policy: Policy, now: datetime) -> Window:
    day = local_day(policy, now)
    return Window(key, day.toordinal(), _local_midnight_after(policy, day))


def windows(policy: Policy, now: datetime, target: Target | None) -> list[Window]:
    """The counters a send to `target` (None: a contacts check) reads and counts in."""
    found = [
        _epoch_window(SENDS_MINUTE, now, 60),
        _epoch_window(SENDS_HOUR, now, 3600),
        day_window(SENDS_DAY, policy, now),
    ]
    if target is not None:
        found.append(day_window(NEW_DAY, policy, now))
        if policy.per_recipient is not None:
            period = policy.per_recipient.period_s
            found.append(_epoch_window(RECIPIENT + target.jid, now, period))
    return found


def warmup_day(policy: Policy, state: BreakerState, now: datetime) -> int | None:
    if policy.warmup is None:
        return None
    started = state.warmup_started_at or now
    return max(1, (local_day(policy, now) - local_day(policy, started)).days + 1)


def warmup_cap(policy: Policy, state: BreakerState, now: datetime) -> int | None:
    day = warmup_day(policy, state, now)
    if policy.warmup is None or day is None:
        return None
    grown = policy.warmup.start * policy.warmup.factor ** min(day - 1, 64)
    return int(min(grown, policy.warmup.ceiling))


def day_limit(policy: Policy, state: BreakerState, now: datetime) -> tuple[int | None, str]:
    """Today's cap and the rule it comes from: the lower of the day cap and the warm-up's."""
    warm = warmup_cap(policy, state, now)
    if warm is not None and (policy.per_day is None or warm < policy.per_day):
        return warm, WARMUP
    return policy.per_day, PER_DAY


def quiet_until(quiet: QuietHours | None, zone_name: str, now: datetime) -> datetime | None:
    """When the quiet hours around `now` end (None: `now` is outside them)."""
    if quiet is None or quiet.start == quiet.end:
        return None
    zone = ZoneInfo(zone_name)
    local = now.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    if quiet.start < quiet.end:
        inside = quiet.start <= clock < quiet.end
        end_day = local.date()
    else:  # spans midnight
        inside = clock >= quiet.start or clock < quiet.end
        end_day = local.date() + timedelta(days=1) if clock >= quiet.start else local.date()
    if not inside:
        return None
    # A wall time skipped by a DST change resolves forward (fold=0), which is still later.
    return datetime.combine(end_day, quiet.end, zone).astimezone(now.tzinfo)


def _caps(
    policy: Policy, state: BreakerState, now: datetime, counts: dict[str, int], found: list[Window]
) -> list[Hold]:
    by_key = {window.key: window for window in found}
    today, today_rule = day_limit(policy, state, now)
    limits = [
        (SENDS_MINUTE, policy.per_minute, PER_MINUTE),
        (SENDS_HOUR, policy.per_hour, PER_HOUR),
        (SENDS_DAY, today, today_rule),
    ]
    if NEW_DAY in by_key:
        limits.append((NEW_DAY, policy.new_conversations_per_day, NEW_CONVERSATIONS))
    if policy.per_recipient is not None:
        for key in by_key:
            if key.startswith(RECIPIENT):
                limits.append((key, policy.per_recipient.limit, PER_RECIPIENT))
    return [
        Hold(by_key[key].ends, rule)
        for key, limit, rule in limits
        if limit is not None and counts.get(key, 0) >= limit
    ]


def decide(
    policy: Policy,
    state: BreakerState,
    counts: dict[str, int],
    now: datetime,
    target: Target | None,
    amount: int = 1,
) -> Hold | None:
    """None: the send (or a check of `amount` numbers) may go now. Else the hold that ends
    last among the rules it breaks: sooner than that, another rule would still hold it."""
    holds: list[Hold] = []
    if state.paused_until is not None and state.paused_until > now:
        holds.append(Hold(state.paused_until, PAUSED))
    quiet = quiet_until(policy.quiet_hours, policy.timezone, now)
    if quiet is not None:
        holds.append(Hold(quiet, QUIET_HOURS))
    found = windows(policy, now, target)
    if target is not None and not target.new:
        found = [window for window in found if window.key != NEW_DAY]
    # A check of several numbers counts each: it goes when all of them fit.
    counted = {key: value + amount - 1 for key, value in counts.items()}
    holds.extend(_caps(policy, state, now, counted, found))
    if not holds:
        return None
    return max(holds, key=lambda hold: hold.until)


def counted_windows(policy: Policy, now: datetime, target: Target | None) -> list[Window]:
    """The counters a send that went counts in (a chat written to before is no new one)."""
    found = windows(policy, now, target)
    if target is not None and not target.new:
        found = [window for window in found if window.key != NEW_DAY]
    return found


def cooldown_s(breaker: Breaker, trips: int) -> int:
    """The pause of the `trips`-th opening in a row: doubled each time, up to the maximum."""
    return int(min(breaker.cooldown_s * 2 ** min(max(trips - 1, 0), 32), breaker.cooldown_max_s))


def trips_after(state: BreakerState, now: datetime) -> int:
    """The count of openings in a row once the breaker opens now: a day without one starts
    over."""
    if state.last_trip_at is None or now - state.last_trip_at > timedelta(days=1):
        return 1
    return state.trips + 1


def failure_rate_trips(breaker: Breaker, sent: int, failed: int) -> bool:
    """Whether the sends of the window (`sent` went, `failed` did not) open the breaker."""
    total = sent + failed
    if breaker.failure_rate is None or total < breaker.min_sends:
        return False
    return failed / total >= breaker.failure_rate
