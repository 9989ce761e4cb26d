"""The send policy's I/O around its pure rules: the policy and breaker rows, the counters, the
clock, the held messages, and a wake-up per instance (a sender held until a release sleeps on
it: a change of the policy or a resume wakes it at once)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

import structlog
from redis.asyncio import Redis

from wagate.clock import Clock, SystemClock
from wagate.config import Settings
from wagate.db import Database
from wagate.errors import ApiError
from wagate.events.bus import EventBus
from wagate.events.payloads import SendPausedData
from wagate.message_status import MessageStatus
from wagate.models import SendPolicy as PolicyRow
from wagate.policy import repository, rules
from wagate.policy.counters import CounterStore, DatabaseCounters, RedisCounters
from wagate.policy.rules import BreakerState, Hold, Target
from wagate.policy.schemas import CounterOut, HeldOut, Policy, PolicyOut, PolicyPatch
from wagate.redis_info import DRIVER_INFO

log = structlog.get_logger(__name__)

RECHECK_S = 60.0  # the longest sleep of a held sender: one look a minute, whatever it holds
_SENT = sorted({MessageStatus.SENT, MessageStatus.DELIVERED, MessageStatus.READ})


class OutsideSendWindow(ApiError):
    status_code, code = 409, "outside_send_window"


class SendingPaused(ApiError):
    status_code, code = 409, "sending_paused"


class SendLimitReached(ApiError):
    status_code, code = 429, "send_limit_reached"


def parse_defaults(raw: str) -> Policy:
    """The policy of an instance that changed none of it (WAGATE_SEND_POLICY_DEFAULTS)."""
    return Policy.model_validate(json.loads(raw) if raw.strip() else {})


class SendPolicies:
    def __init__(
        self, db: Database, bus: EventBus, counters: CounterStore, clock: Clock, defaults: Policy
    ) -> None:
        self.db = db
        self.bus = bus
        self.counters = counters
        self.clock = clock
        self.defaults = defaults
        self._wakeups: dict[int, asyncio.Event] = {}
        # How many times this node wrote each instance's policy row: a sender reads the row
        # again when the count moved since its last read (`version`).
        self._writes: dict[int, int] = {}

    # --- the wake-up of a held sender ---------------------------------------------------------

    def wakeup(self, instance_id: int) -> asyncio.Event:
        return self._wakeups.setdefault(instance_id, asyncio.Event())

    def wake(self, instance_id: int) -> None:
        self.wakeup(instance_id).set()

    async def wait(self, instance_id: int, until: datetime) -> None:
        """Sleep until `until` (the clock's time) or a wake-up, whichever comes first; and
        look again after RECHECK_S at the latest, which covers what no wake-up reaches (an
        instance deleted and created again, the wall clock set back)."""
        event = self.wakeup(instance_id)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.clock.sleep_until(until, event), RECHECK_S)
        event.clear()

    # --- the policy and the breaker ------------------------------------------------------------

    async def _row(self, instance_id: int) -> PolicyRow | None:
        async with self.db.session() as session:
            return await repository.policy_row(session, instance_id)

    def effective(self, row: PolicyRow | None) -> Policy:
        if row is None or not row.policy:
            return self.defaults
        return Policy.model_validate({**self.defaults.model_dump(), **row.policy})

    @staticmethod
    def state_of(row: PolicyRow | None) -> BreakerState:
        if row is None:
            return BreakerState()
        return BreakerState(
            row.paused_until, row.paused_reason, row.trips, row.last_trip_at, row.warmup_started_at
        )

    async def load(self, instance_id: int) -> tuple[Policy, BreakerState]:
        row = await self._row(instance_id)
        return self.effective(row), self.state_of(row)

    def version(self, instance_id: int) -> int:
        """Moves whenever this node writes the instance's policy row. The routes that change
        it run on the instance's holder, so its sender sees every change at its next send."""
        return self._writes.get(instance_id, 0)

    def _wrote(self, instance_id: int) -> None:
        self._writes[instance_id] = self._writes.get(instance_id, 0) + 1

    async def _write(self, instance_id: int, **values: Any) -> None:
        try:
            async with self.db.transaction() as session:
                await repository.write_policy_row(session, instance_id, values)
        finally:
            self._wrote(instance_id)

    async def _start_warmup(self, instance_id: int, now: datetime) -> None:
        """Day 1 of the warm-up is the first send under it (once: a later call keeps it)."""
        try:
            async with self.db.transaction() as session:
                await repository.start_warmup(session, instance_id, now)
        finally:
            self._wrote(instance_id)

    async def update(self, instance_id: int, patch: PolicyPatch) -> None:
        changes = patch.model_dump(mode="json", exclude_unset=True)
        restart = changes.pop("restart_warmup", False)
        row = await self._row(instance_id)
        stored = dict(row.policy) if row is not None and row.policy else {}
        for name, value in changes.items():
            if value is None and name in ("timezone", "breaker"):
                stored.pop(name, None)  # back to the default
            else:
                stored[name] = value
        Policy.model_validate({**self.defaults.model_dump(), **stored})  # still a policy
        values: dict[str, Any] = {"policy": stored}
        if restart:
            values["warmup_started_at"] = self.clock.now()
        await self._write(instance_id, **values)
        self.wake(instance_id)

    async def resume(self, instance_id: int) -> None:
        """Sending goes on now (the breaker's count of openings stays: a repeat still grows)."""
        await self._write(instance_id, paused_until=None, paused_reason=None)
        self.wake(instance_id)

    async def trip(self, instance: str, instance_id: int, reason: str) -> datetime:
        """Open the breaker: sending pauses for the cool-down, announced by `send_paused`."""
        policy, state = await self.load(instance_id)
        now = self.clock.now()
        trips = rules.trips_after(state, now)
        cooldown = rules.cooldown_s(policy.breaker, trips)
        until = now + timedelta(seconds=cooldown)
        await self._write(
            instance_id, paused_until=until, paused_reason=reason, trips=trips, last_trip_at=now
        )
        log.warning("sending paused", instance=instance, reason=reason, cooldown_s=cooldown)
        await self.bus.publish(
            instance,
            instance_id,
            SendPausedData(
                reason=reason, paused_until=until.isoformat(), cooldown_s=cooldown, trips=trips
            ),
        )
        # No wake-up: the sender that tripped it holds next, and a wake-up left set would
        # end that hold at once (the message claimed again, shown `sending` for a moment).
        return until

    # --- gating and counting -------------------------------------------------------------------

    async def target(
        self, instance_id: int, policy: Policy, jid: str, sent: Collection[str] = ()
    ) -> Target:
        """The chat of a send, and whether it is a new conversation (asked only when a cap
        on those applies: it costs a query); `sent`: chats sent to but not recorded yet."""
        if policy.new_conversations_per_day is None or jid in sent:
            return Target(jid, new=False)
        async with self.db.session() as session:
            sent_before = await repository.has_sent_to(session, instance_id, jid, _SENT)
            return Target(jid, new=not sent_before)

    async def gate(
        self,
        instance_id: int,
        policy: Policy,
        state: BreakerState,
        target: Target | None,
        amount: int = 1,
    ) -> Hold | None:
        now = self.clock.now()
        if policy.warmup is not None and state.warmup_started_at is None:
            await self._start_warmup(instance_id, now)
        counts: dict[str, int] = {}
        if policy.counts_sends():
            counts = await self.counters.read(instance_id, rules.windows(policy, now, target))
        return rules.decide(policy, state, counts, now, target, amount)

    async def count(
        self, instance_id: int, policy: Policy, target: Target | None, amount: int = 1
    ) -> None:
        if policy.counts_sends():
            now = self.clock.now()
            windows = rules.counted_windows(policy, now, target)
            await self.counters.add(instance_id, windows, now, amount)

    async def admit_check(self, instance_id: int, amount: int) -> None:
        """A contacts check of `amount` numbers: counted like sends, refused (with when it
        may go) when the policy would hold a send."""
        policy, state = await self.load(instance_id)
        hold = await self.gate(instance_id, policy, state, None, amount)
        if hold is not None:
            raise refusal(hold, self.clock.now())
        await self.count(instance_id, policy, None, amount)

    async def refuse_outside_window(self, instance_id: int) -> None:
        """A sync send in the quiet hours or a pause answers at once rather than waiting."""
        policy, state = await self.load(instance_id)
        now = self.clock.now()
        if state.paused_until is not None and state.paused_until > now:
            raise refusal(Hold(state.paused_until, rules.PAUSED), now)
        opens = rules.quiet_until(policy.quiet_hours, policy.timezone, now)
        if opens is not None:
            raise refusal(Hold(opens, rules.QUIET_HOURS), now)

    # --- held messages -------------------------------------------------------------------------

    async def hold_queued(self, instance_id: int, hold: Hold) -> None:
        """Every queued message of the instance waits behind the first: each shows the rule and
        until when (one write, whatever their number)."""
        async with self.db.transaction() as session:
            await repository.hold_queued(session, instance_id, hold.until, hold.rule)

    async def release_queued(self, instance_id: int) -> None:
        """The hold is over: the queued messages show none any more."""
        async with self.db.transaction() as session:
            await repository.release_queued(session, instance_id)

    async def held(self, instance_id: int) -> HeldOut:
        async with self.db.session() as session:
            count, first = await repository.held(session, instance_id)
        if first is None:
            return HeldOut(count=count)
        return HeldOut(count=count, rule=first.held_by, until=first.held_until)

    async def describe(self, instance_id: int) -> PolicyOut:
        policy, state = await self.load(instance_id)
        now = self.clock.now()
        found = [*rules.windows(policy, now, None), rules.day_window(rules.NEW_DAY, policy, now)]
        counts = await self.counters.read(instance_id, found)
        today, _ = rules.day_limit(policy, state, now)
        limits = {
            rules.SENDS_MINUTE: policy.per_minute,
            rules.SENDS_HOUR: policy.per_hour,
            rules.SENDS_DAY: today,
            rules.NEW_DAY: policy.new_conversations_per_day,
        }
        counters = {
            w.key: CounterOut(count=counts.get(w.key, 0), limit=limits.get(w.key), resets_at=w.ends)
            for w in found
        }
        paused = state.paused_until is not None and state.paused_until > now
        hold = rules.decide(policy, state, counts, now, None)
        return PolicyOut(
            state="paused" if paused else "active",
            paused_reason=state.reason if paused else None,
            paused_until=state.paused_until if paused else None,
            trips=state.trips,
            policy=policy,
            warmup_day=rules.warmup_day(policy, state, now),
            day_limit=today,
            counters=counters,
            held=await self.held(instance_id),
            next_send_at=hold.until if hold else None,
            next_rule=hold.rule if hold else None,
        )


def refusal(hold: Hold, now: datetime) -> ApiError:
    """The API's answer to a request the policy holds: when it may go (also as Retry-After),
    and why."""
    details = {"rule": hold.rule, "retry_at": hold.until.isoformat()}
    headers = {"Retry-After": str(max(1, math.ceil((hold.until - now).total_seconds())))}
    if hold.rule == rules.QUIET_HOURS:
        message = f"outside the send window: it opens at {hold.until.isoformat()}"
        opens = {**details, "opens_at": hold.until.isoformat()}
        return OutsideSendWindow(message, details=opens, headers=headers)
    if hold.rule == rules.PAUSED:
        message = f"sending is paused until {hold.until.isoformat()}"
        return SendingPaused(message, details=details, headers=headers)
    return SendLimitReached(
        f"the send policy's {hold.rule} limit is reached until {hold.until.isoformat()}",
        details=details,
        headers=headers,
    )


def build_send_policies(
    settings: Settings, db: Database, bus: EventBus, clock: Clock | None = None
) -> SendPolicies:
    """The counters in Redis on a cluster (every node sees them), else in the database."""
    counters: CounterStore
    if settings.redis_url:
        redis = Redis.from_url(
            settings.redis_url, socket_connect_timeout=5, driver_info=DRIVER_INFO
        )
        counters = RedisCounters(redis, settings.cluster_key_prefix)
    else:
        counters = DatabaseCounters(db)
    defaults = parse_defaults(settings.send_policy_defaults)
    return SendPolicies(db, bus, counters, clock or SystemClock(), defaults)
