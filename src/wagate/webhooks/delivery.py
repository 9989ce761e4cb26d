"""The delivery worker: claims due delivery rows in batches, posts them through one shared
connection pool, and writes the outcomes back in batches.

Isolation: a URL never has more than `webhook_concurrency_per_url` posts in flight, every
post is cut off after `webhook_timeout_s`, and URLs at their limit are left out of the next
claim, so one slow or dead receiver only ever holds its own rows.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from wagate.config import Settings
from wagate.db import Database, utcnow
from wagate.metrics import WEBHOOK_DELIVERIES
from wagate.secretbox import SecretBox, SecretKeyError, open_box
from wagate.tasks import cancel_requested, stop_tasks, wait_tasks
from wagate.webhooks import repository
from wagate.webhooks.outbox import GLOBAL_TARGET, WEBHOOK_REMOVED
from wagate.webhooks.repository import Claimed
from wagate.webhooks.retry import (
    DeliveryStatus,
    RetryPolicy,
    decide,
    is_success,
)
from wagate.webhooks.sender import Attempt, Sender, host_of

log = structlog.get_logger(__name__)

CLEANUP_CHUNK = 1000
STOP_S = 10.0  # shutdown: what a step of stop() waits for at most, besides the posts
# A claim's lease lasts this many timeouts, and 30 s more (see `_dispatch`).
LEASE_ROUNDS = 8
WRITE_LINGER_S = 0.02


@dataclass
class Lane:
    """The rows of one URL that this worker holds: queued, and posting (at most `limit`)."""

    queue: deque[tuple[Claimed, str | None]] = field(default_factory=deque)
    running: int = 0
    # Rows the outbox is writing already claimed for this worker (`reserve`), not handed
    # over yet: they count against the lane's room like the rows it holds.
    reserved: int = 0
    # The last answer was not a 2xx: hold no more rows than can be posted at once, so that a
    # hanging receiver keeps as few rows away from other nodes as possible.
    failing: bool = False

    @property
    def held(self) -> int:
        return len(self.queue) + self.running + self.reserved


class DeliveryWorker:
    def __init__(self, settings: Settings, db: Database, secrets: SecretBox | None = None) -> None:
        self.settings = settings
        self.db = db
        self.secrets = secrets or open_box(settings)
        self.policy = RetryPolicy(
            max_attempts=settings.webhook_max_attempts,
            base_delay_s=settings.webhook_retry_base_delay_s,
            max_delay_s=settings.webhook_retry_max_delay_s,
        )
        self.timeout = settings.webhook_timeout_s
        self.per_url = settings.webhook_concurrency_per_url
        # What a healthy URL's lane may hold: half of what the node holds, so that one URL's
        # flood leaves the other half to the rest. Under a sustained load a receiver's posts
        # fall behind the events by hundreds of rows: a lane of a few rounds of posts was
        # full, and nearly every row was written unclaimed and claimed from the table (a
        # statement per few dozen rows, and a write per row on PostgreSQL).
        self.backlog = max(self.per_url, settings.webhook_max_in_flight // 2)
        # No row is posted unless its lease outlasts the post (`_dispatch`): a row that waited
        # in a slow lane too long is left to its lease, so no other node takes a row this one
        # still posts.
        self.lease = timedelta(seconds=(LEASE_ROUNDS + 1) * self.timeout + 30)
        self._post_time = timedelta(seconds=self.timeout)
        self.sender = Sender(
            settings.webhook_timeout_s,
            settings.webhook_max_in_flight,
            allow_private=settings.allow_private_webhook_urls,
        )
        self._lanes: dict[str, Lane] = {}
        self._held = 0
        self._posting: dict[asyncio.Task[None], Claimed] = {}
        self._claim_size = settings.webhook_batch_size
        self._results: asyncio.Queue[Attempt | None] = asyncio.Queue()
        self._wake = asyncio.Event()
        # The last claim may have left due rows behind: it was full (any URL may have more),
        # or it left out URLs at their limit (those may). Then room freed by a finished post
        # is worth a claim at once.
        self._more_due = True
        self._excluded: set[str] = set()
        # URLs with rows written unclaimed (no room at the time) that no claim has taken yet:
        # new rows for them go to the table too, behind those, rather than ahead of them.
        self._behind: set[str] = set()
        self._stopping = False
        self._started = False
        self._tasks: list[asyncio.Task[None]] = []

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        if self.settings.webhook_url:
            # The global webhook may have a new URL since the last start: pending deliveries
            # follow it, as they follow a changed instance webhook.
            async with self.db.transaction() as session:
                await repository.move_pending(
                    session, None, GLOBAL_TARGET, self.settings.webhook_url
                )
        self._started = True
        self._tasks = [
            asyncio.create_task(self._claim_loop(), name="webhooks-claim"),
            asyncio.create_task(self._write_loop(), name="webhooks-write"),
            asyncio.create_task(self._cleanup_loop(), name="webhooks-cleanup"),
        ]

    def wake(self) -> None:
        """New rows are due now (written by this process): claim without waiting for a poll."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop claiming, give the posts in flight one timeout to finish, hand the rest back
        as due (so the next start posts them at once), write every outcome, close the pool."""
        self._stopping = True
        self._wake.set()
        claim, writer, cleanup = self._tasks
        await stop_tasks([cleanup], STOP_S, "webhook cleanup")
        await wait_tasks([claim], STOP_S, "webhook claims")  # ends after the claim in hand
        unfinished = [item for lane in self._lanes.values() for item, _ in lane.queue]
        for lane in self._lanes.values():
            lane.queue.clear()
        if self._posting:
            posting = dict(self._posting)
            _, pending = await asyncio.wait(list(posting), timeout=self.timeout + 1)
            unfinished += [posting[task] for task in pending]
            await stop_tasks(pending, STOP_S, "webhook posts")
        self._results.put_nowait(None)
        await wait_tasks([writer], STOP_S + self.timeout, "webhook outcome writes")
        if unfinished:
            await self._release(unfinished)
        await self.sender.aclose()

    # --- rows handed over by this node's outbox --------------------------------------------

    def reserve(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Of new delivery rows about to be written by this node, the ones this worker will
        post without claiming them from the table: as many as their lanes have room for. Each
        is marked claimed in place (a claim token and its lease), so no other
        node takes it, and written so. The outbox calls `adopt` with them once committed, or
        `unreserve` when the write failed. A claim cost a write per row."""
        if not self._started or self._stopping:
            return []
        capacity = self.settings.webhook_max_in_flight - self._held
        token = repository.new_claim_token()
        lease_until = utcnow() + self.lease
        taken: list[dict[str, Any]] = []
        for row in rows:
            lane = self._lanes.setdefault(row["url"], Lane())
            if capacity <= 0 or self._room(lane) <= 0 or row["url"] in self._behind:
                continue
            lane.reserved += 1
            self._held += 1
            capacity -= 1
            row["claim_token"] = token
            row["claimed_until"] = lease_until
            taken.append(row)
        self._forget_idle_lanes({row["url"] for row in rows})
        return taken

    def unreserve(self, rows: list[dict[str, Any]]) -> None:
        """The write of reserved rows failed: their room is free again."""
        for row in rows:
            self._lanes[row["url"]].reserved -= 1
            self._held -= 1
        self._forget_idle_lanes({row["url"] for row in rows})

    async def adopt(
        self, rows: list[dict[str, Any]], webhooks: dict[int, dict[str, Any] | None]
    ) -> None:
        """Reserved rows, now committed: queued in their lanes (signed with the secret of
        `webhooks`, the instances' webhooks they were written for), as a claim queues its
        rows. A worker stopping meanwhile hands them back to the table as due."""
        items = [
            Claimed(
                id=row["id"],
                instance_id=row["instance_id"],
                event=row["event"],
                url=row["url"],
                target=row["target"],
                payload=row["payload"],
                attempts=row["attempts"],
                claim_token=row["claim_token"],
                lease_until=row["claimed_until"],
            )
            for row in rows
        ]
        for item in items:
            self._lanes[item.url].reserved -= 1
            self._held -= 1
        if self._stopping:
            self._forget_idle_lanes({item.url for item in items})
            await self._release(items)
            return
        for item in items:
            signed = self._signed(item, webhooks)
            lane = self._lanes[item.url]
            if signed is not None:
                lane.queue.append(signed)
                self._held += 1
        for url in {item.url for item in items}:
            self._dispatch(self._lanes[url])
        self._forget_idle_lanes({item.url for item in items})

    def left_in_table(self, urls: set[str]) -> None:
        """Rows for these URLs were written unclaimed (their lanes had no room): a claim
        takes them once a lane has room. Waking the claim loop for each such write made a
        small claim per write while the lane freed a row at a time; a finished post claims
        when its lane is down to half, as long as rows are due."""
        self._more_due = True
        self._behind |= urls
        if any(url not in self._lanes for url in urls):  # no post of its own to wake it
            self.wake()

    def _forget_idle_lanes(self, urls: set[str]) -> None:
        for url in urls:
            lane = self._lanes.get(url)
            if lane is not None and lane.held == 0 and not lane.failing:
                del self._lanes[url]

    # --- claiming -------------------------------------------------------------------------

    def _room(self, lane: Lane) -> int:
        limit = self.per_url if lane.failing else self.backlog
        return limit - lane.held

    def _widest_room(self) -> int:
        """The most rows a claim can hand to one lane: claimed past it, rows go back to the
        table at once (two writes each, for nothing). A URL without a lane yet has the whole
        backlog; a saturated lane's URL is left out of the claim."""
        open_rooms = [room for room in map(self._room, self._lanes.values()) if room > 0]
        return max(open_rooms, default=self.backlog)

    async def _claim_loop(self) -> None:
        settings = self.settings
        while not self._stopping:
            self._wake.clear()
            capacity = settings.webhook_max_in_flight - self._held
            room = self._widest_room()
            wanted = min(capacity, self._claim_size, room)
            taken = 0
            if wanted > 0:
                try:
                    taken = await self.claim_batch(wanted)
                except Exception:
                    log.exception("webhook claim failed")
                    self._more_due = False  # a failing database is retried at the poll
            else:
                self._more_due = True  # no room at all: the next finished post frees some
            # A claim that filled its lane's room waits, like one that found nothing due,
            # until a lane is down to half (a finished post wakes it), rows arrive or the
            # poll: claiming again at once took a few rows at a time, as posts freed them.
            if (taken < wanted or wanted <= 0 or wanted == room) and not self._stopping:
                # Nothing more is due (or no room): sleep until rows arrive, room frees up,
                # or the next poll.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), settings.webhook_poll_interval_s)

    async def claim_batch(self, limit: int) -> int:
        """Claim up to `limit` due rows and queue them in their URL's lane; returns how many
        rows were claimed (rows over a lane's room are handed back at once)."""
        saturated = [url for url, lane in self._lanes.items() if self._room(lane) <= 0]
        self._excluded = set(saturated)
        self._more_due = True  # until this claim says otherwise
        now = utcnow()
        # No transaction around them: the claim is one statement, the webhook read and the
        # hand-back of rows over a lane's room stand on their own.
        async with self.db.autocommit() as session:
            claimed = await repository.claim_due(
                session,
                now=now,
                lease_until=now + self.lease,
                limit=limit,
                exclude_urls=saturated,
            )
            if len(claimed) < limit:  # nothing is left due but for the URLs left out
                self._behind &= set(saturated)
            if not claimed:
                self._more_due = False
                return 0
            webhooks = await repository.instance_webhooks(
                session, [c.instance_id for c in claimed if c.instance_id is not None]
            )
            accepted, over = self._sort(claimed, webhooks)
            if over:
                await repository.release(session, over, now)
        self._size_next(limit, len(claimed), len(over))
        for item, secret in accepted:
            lane = self._lanes.setdefault(item.url, Lane())
            lane.queue.append((item, secret))
            self._held += 1
            self._dispatch(lane)
        return len(claimed)

    def _sort(
        self, claimed: list[Claimed], webhooks: dict[int, dict[str, Any] | None]
    ) -> tuple[list[tuple[Claimed, str | None]], list[Claimed]]:
        """The claimed rows their lanes have room for, each with the secret that signs it,
        and the rows over a lane's room (to hand back)."""
        accepted: list[tuple[Claimed, str | None]] = []
        over: list[Claimed] = []
        room: dict[str, int] = {}
        for item in claimed:
            if item.url not in room:
                lane = self._lanes.get(item.url)
                room[item.url] = self._room(lane) if lane else self.backlog
            if room[item.url] <= 0:
                over.append(item)
                continue
            room[item.url] -= 1
            signed = self._signed(item, webhooks)
            if signed is not None:
                accepted.append(signed)
        return accepted, over

    def _signed(
        self, item: Claimed, webhooks: dict[int, dict[str, Any] | None]
    ) -> tuple[Claimed, str | None] | None:
        """The row with its secret, or None: its webhook is gone (finished untried), or its
        secret is not readable here."""
        try:
            exists, secret = self._secret(item, webhooks)
        except SecretKeyError as exc:
            # Another node's key encrypted it: neither sent unsigned nor failed; the
            # row stays claimed until its lease runs out, for a node with the key.
            log.error("webhook secret not readable here", delivery=item.id, error=str(exc))
            return None
        if not exists:
            self._results.put_nowait(self._not_tried(item, WEBHOOK_REMOVED))
            return None
        return item, secret

    def _size_next(self, limit: int, claimed: int, over: int) -> None:
        # Ask for about what fits next time, rather than claiming rows only to hand them back.
        if over:
            self._claim_size = max(self.per_url, claimed - over)
        elif claimed == limit:
            self._claim_size = min(self.settings.webhook_batch_size, self._claim_size * 2)
        self._more_due = claimed == limit or bool(over)

    def _secret(
        self, item: Claimed, webhooks: dict[int, dict[str, Any] | None]
    ) -> tuple[bool, str | None]:
        """Whether the row's webhook still exists, and the secret that signs it now (a
        rotated secret applies to pending rows too)."""
        if item.target == GLOBAL_TARGET:
            if not self.settings.webhook_url:
                return False, None
            secret = self.settings.webhook_secret
            return True, secret.get_secret_value() if secret else None
        webhook = webhooks.get(item.instance_id) if item.instance_id is not None else None
        if not webhook or not webhook.get("url"):
            return False, None
        value = webhook.get("secret")
        return True, self.secrets.decrypt(str(value)) if value else None

    def _dispatch(self, lane: Lane) -> None:
        if not lane.queue or lane.running >= self.per_url:
            return  # nothing to start: most finished posts of a busy lane come here
        latest = utcnow() + self._post_time  # a post that starts now ends by then
        expired: list[Claimed] = []
        while lane.queue and lane.running < self.per_url:
            item, secret = lane.queue.popleft()
            if item.lease_until is not None and item.lease_until <= latest:
                # Its lease could run out during the post: another node may claim it then.
                # Left untried; once the lease ran out a claim takes it again (this node's
                # or another's).
                self._held -= 1
                expired.append(item)
                continue
            lane.running += 1
            task = asyncio.create_task(self._deliver(lane, item, secret))
            self._posting[task] = item
            task.add_done_callback(self._posted)
        if expired:
            self._more_due = True
            log.warning(
                "webhook rows waited past their lease; claimed again when it runs out",
                rows=len(expired),
                host=host_of(expired[0].url),
            )

    def _posted(self, task: asyncio.Task[None]) -> None:
        item = self._posting.pop(task, None)
        if item is None:
            return
        lane = self._lanes.get(item.url)
        if lane is None:
            return
        lane.running -= 1
        self._held -= 1
        if not self._stopping:
            self._dispatch(lane)
        self._forget_idle_lanes({item.url})
        # Claim again once a lane is down to half its backlog or the node to half its
        # in-flight limit, while more rows may be due (the claim itself is serial, so posts
        # finishing during one cost no extra claims); a lane that drained stays fed without
        # waiting for the poll. Rows new in the table for a URL without a lane here wake the
        # loop (`wake`, `left_in_table`).
        lane_low = lane.held <= self.backlog // 2
        if (lane_low and (self._more_due or item.url in self._excluded)) or (
            self._held == self.settings.webhook_max_in_flight // 2
        ):
            self._wake.set()

    # --- posting --------------------------------------------------------------------------

    @staticmethod
    def _not_tried(item: Claimed, error: str) -> Attempt:
        return Attempt(item, utcnow(), None, error, 0, tried=False)

    async def _deliver(self, lane: Lane, item: Claimed, secret: str | None) -> None:
        attempt = await self.sender.post(item, secret)
        was_failing = lane.failing
        lane.failing = not is_success(attempt.status_code)
        if was_failing and not lane.failing:
            self._wake.set()
        elif lane.failing and not was_failing and lane.queue:
            # The URL just started failing: the rows waiting behind it go back to the table
            # (untried) instead of queueing here for one timeout per round.
            waiting = [queued for queued, _ in lane.queue]
            lane.queue.clear()
            self._held -= len(waiting)
            await self._release(waiting)
        self._results.put_nowait(attempt)

    async def _release(self, items: list[Claimed]) -> None:
        try:
            async with self.db.transaction() as session:
                await repository.release(session, items, utcnow())
        except Exception:
            # They stay leased: claimed again when the lease runs out.
            log.exception("webhook release failed", rows=len(items))

    async def _write_loop(self) -> None:
        finished = False
        while not finished:
            first = await self._results.get()
            batch: list[Attempt] = []
            if first is None:
                finished = True
            else:
                batch.append(first)
                # Let a few more outcomes arrive: one transaction for many rows costs about
                # what one costs for a single row.
                await asyncio.sleep(WRITE_LINGER_S)
            # Whatever else finished meanwhile goes into the same transaction.
            while not self._results.empty() and len(batch) < 1000:
                item = self._results.get_nowait()
                if item is None:
                    finished = True
                    break
                batch.append(item)
            if batch:
                try:
                    await self._write(batch)
                except Exception:
                    # The rows stay claimed: their lease runs out and they are tried again.
                    log.exception("webhook outcome write failed", rows=len(batch))

    async def _write(self, batch: list[Attempt]) -> None:
        now = utcnow()
        outcomes: list[dict[str, Any]] = []
        refused: list[dict[str, Any]] = []
        accepted: list[dict[str, Any]] = []
        for attempt in batch:
            written = outcome_of(attempt, self.policy, now)
            WEBHOOK_DELIVERIES.labels(written.label).inc()
            if written.status is not DeliveryStatus.DELIVERED:
                item = attempt.delivery
                log.info(
                    "webhook delivery not accepted",
                    delivery=item.id,
                    webhook_event=item.event,
                    host=host_of(item.url),
                    status=written.status.value,
                    attempts=written.attempts,
                    error=attempt.error,
                    detail=attempt.detail,
                )
            outcomes.append(written.outcome)
            if written.attempt is not None:
                delivered = written.status is DeliveryStatus.DELIVERED
                (accepted if delivered else refused).append(written.attempt)
        for tries in range(3):
            try:
                # No transaction: each statement stands alone (a retry writes the same
                # outcomes again, and a try is recorded once: see record_outcomes).
                async with self.db.autocommit() as session:
                    await repository.record_outcomes(session, outcomes, refused, accepted)
                return
            except Exception:
                if tries == 2:
                    raise
                await asyncio.sleep(0.2 * (tries + 1))

    # --- retention ------------------------------------------------------------------------

    async def _cleanup_loop(self) -> None:
        while not cancel_requested():
            try:
                await self.cleanup()
            except Exception:
                log.exception("webhook cleanup failed")
            await asyncio.sleep(self.settings.webhook_cleanup_interval_s)

    async def cleanup(self) -> int:
        """Delete delivered and failed rows older than `webhook_retention_s`, in chunks."""
        cutoff = utcnow() - timedelta(seconds=self.settings.webhook_retention_s)
        total = 0
        while True:
            async with self.db.transaction() as session:
                deleted = await repository.delete_finished_before(session, cutoff, CLEANUP_CHUNK)
            total += deleted
            if deleted < CLEANUP_CHUNK:
                return total


@dataclass(frozen=True, slots=True)
class Written:
    """What one attempt writes: the delivery row's new state (with the try on it), the try's
    row of the attempts table (none for a row that was not tried; an accepted try needs it only
    when its outcome does not land), and the metric label."""

    status: DeliveryStatus
    attempts: int
    label: str
    outcome: dict[str, Any]
    attempt: dict[str, Any] | None


def outcome_of(attempt: Attempt, policy: RetryPolicy, now: datetime) -> Written:
    """The outcome of one attempt: delivered, pending again (retried after a backoff) or
    failed; a row not tried (its webhook is gone) fails without spending an attempt."""
    item = attempt.delivery
    count = item.attempts + (1 if attempt.tried else 0)
    row: dict[str, Any] | None = None
    if attempt.tried:
        decision = decide(
            policy,
            attempts=count,
            status_code=attempt.status_code,
            now=now,
            retry_after_s=attempt.retry_after_s,
        )
        status, next_at, label = decision.status, decision.next_attempt_at, decision.outcome
        row = {
            "delivery_id": item.id,
            "attempted_at": attempt.attempted_at,
            "status_code": attempt.status_code,
            "error": _clip(attempt.error),
            "duration_ms": attempt.duration_ms,
        }
    else:
        status, next_at, label = DeliveryStatus.FAILED, None, "failed"
    outcome = {
        "id": item.id,
        "claim_token": item.claim_token,
        "status": status.value,
        "attempts": count,
        "last_attempted_at": attempt.attempted_at if attempt.tried else None,
        "last_status_code": attempt.status_code,
        "last_error": _clip(attempt.error),
        "last_duration_ms": attempt.duration_ms if attempt.tried else None,
        "next_attempt_at": next_at,
        "delivered_at": now if status is DeliveryStatus.DELIVERED else None,
    }
    return Written(status, count, label, outcome, row)


def _clip(error: str | None) -> str | None:
    return error[:1000] if error else error
