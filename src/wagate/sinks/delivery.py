"""The worker of one broker sink: claims due rows of sink_deliveries (an instance's rows all
together, in order: see repository.claim_due), publishes each instance's rows one after the
other through the transport, and writes the outcomes back.

An instance's rows go out in order: a row is published only once the broker confirmed the one
before it; when one is not confirmed it waits for its retry (backoff) and the rows behind it
are handed back, to follow it. Different instances are published side by side. While the
broker is down, nothing is claimed: the worker reconnects with a backoff, and the rows wait in
the table (their lag is on /metrics and in `GET /v1/sinks`).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import structlog

from wagate import backoff
from wagate.config import Settings
from wagate.db import Database, utcnow
from wagate.metrics import (
    SINK_CONNECT_FAILURES,
    SINK_CONNECTED,
    SINK_LAG,
    SINK_PENDING,
    SINK_PUBLISHES,
    SINK_RETRYING,
)
from wagate.sinks import repository
from wagate.sinks.repository import Claimed, SinkStats
from wagate.sinks.transport import Outgoing, Transport, Unconfirmed, scrub
from wagate.tasks import stop_tasks, wait_tasks

log = structlog.get_logger(__name__)

STOP_S = 10.0
STATS_INTERVAL_S = 5.0
CLEANUP_INTERVAL_S = 600.0
CLEANUP_CHUNK = 1000


@dataclass
class Chain:
    """What became of one instance's claimed rows: published, the one not confirmed (with
    its error), and those not tried behind it (handed back)."""

    delivered: list[Claimed] = field(default_factory=list)
    duplicates: int = 0
    failed: tuple[Claimed, str] | None = None
    untried: list[Claimed] = field(default_factory=list)


def chains(claimed: Sequence[Claimed]) -> list[list[Claimed]]:
    """The claimed rows per instance, each in id order (the order of its events)."""
    by_instance: dict[int, list[Claimed]] = {}
    for item in sorted(claimed, key=lambda item: item.id):
        by_instance.setdefault(item.instance_id, []).append(item)
    return list(by_instance.values())


def outcomes(chain: Chain, now: datetime, retry_delay_s: float) -> list[dict[str, Any]]:
    """The rows' new state: delivered, or pending again after `retry_delay_s`."""
    written = [
        {
            "id": item.id,
            "claim_token": item.claim_token,
            "status": repository.DELIVERED,
            "attempts": item.attempts + 1,
            "last_error": None,
            "next_attempt_at": None,
            "delivered_at": now,
        }
        for item in chain.delivered
    ]
    if chain.failed is not None:
        item, error = chain.failed
        written.append(
            {
                "id": item.id,
                "claim_token": item.claim_token,
                "status": repository.PENDING,
                "attempts": item.attempts + 1,
                "last_error": error,
                "next_attempt_at": now + timedelta(seconds=retry_delay_s),
                "delivered_at": None,
            }
        )
    return written


class SinkWorker:
    def __init__(self, settings: Settings, db: Database, transport: Transport) -> None:
        self.settings = settings
        self.db = db
        self.transport = transport
        self.timeout_s = settings.sink_publish_timeout_s
        # A chain stops taking new rows past half the lease, so that no row is still being
        # published when its lease runs out and another node claims it.
        self.lease = timedelta(seconds=max(60.0, 6 * self.timeout_s))
        self.chain_budget_s = self.lease.total_seconds() / 2
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._connect_failures = 0
        self._stats_at = 0.0
        self._cleanup_at = 0.0
        self.last_connect_error: str | None = None

    @property
    def name(self) -> str:
        return self.transport.name

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        # Not connected here: a broker that is down at start must not stop the node (its
        # rows wait), the loop connects.
        self._tasks = [asyncio.create_task(self._loop(), name=f"sink-{self.name}")]

    def wake(self) -> None:
        """New rows were written here: claim without waiting for the poll."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop claiming; the chains in flight end after the publish in hand (one timeout at
        most); their outcomes are written, what they did not try is handed back."""
        self._stopping.set()
        self._wake.set()
        await wait_tasks(self._tasks, STOP_S + self.timeout_s, f"sink {self.name}")
        await stop_tasks(self._tasks, STOP_S, f"sink {self.name}")
        await self.transport.close()
        SINK_CONNECTED.labels(self.name).set(0)

    # --- the loop -------------------------------------------------------------------------

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            if not self.transport.connected and not await self._connect():
                continue
            taken = 0
            try:
                taken = await self.run_once()
            except Exception:
                log.exception("sink delivery failed", sink=self.name)
            await self._housekeeping()
            if taken < self.settings.sink_batch_size:
                await self._pause(self.settings.sink_poll_interval_s, self._wake)

    async def _pause(self, seconds: float, event: asyncio.Event | None = None) -> None:
        """Sleep for `seconds`, or until `event` is set or the worker stops."""
        waits = [asyncio.ensure_future(self._stopping.wait())]
        if event is not None:
            waits.append(asyncio.ensure_future(event.wait()))
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waits:
                waiter.cancel()

    async def _connect(self) -> bool:
        try:
            await self.transport.connect()
        except Exception as exc:
            self._connect_failures += 1
            SINK_CONNECT_FAILURES.labels(self.name).inc()
            SINK_CONNECTED.labels(self.name).set(0)
            self.last_connect_error = scrub(f"{type(exc).__name__}: {exc}", self._secret())
            if self._connect_failures == 1 or self._connect_failures % 20 == 0:
                log.warning(
                    "sink broker unreachable",
                    sink=self.name,
                    target=self.transport.target,
                    failures=self._connect_failures,
                    error=self.last_connect_error,
                )
            delay = backoff.delay(
                self._connect_failures - 1,
                self.settings.sink_retry_base_delay_s,
                self.settings.sink_retry_max_delay_s,
                random.random(),
            )
            await self._pause(delay)
            return False
        if self._connect_failures:
            log.info("sink broker reachable again", sink=self.name, target=self.transport.target)
        self._connect_failures = 0
        self.last_connect_error = None
        SINK_CONNECTED.labels(self.name).set(1)
        return True

    def _secret(self) -> str | None:
        return getattr(self.transport, "password", None)

    async def run_once(self) -> int:
        """Claim one batch, publish it, write the outcomes; returns how many rows it claimed."""
        now = utcnow()
        async with self.db.transaction() as session:
            claimed = await repository.claim_due(
                session,
                self.name,
                now=now,
                lease_until=now + self.lease,
                limit=self.settings.sink_batch_size,
            )
        if not claimed:
            return 0
        done = await asyncio.gather(*(self._publish(rows) for rows in chains(claimed)))
        await self._write(done)
        return len(claimed)

    async def _publish(self, rows: list[Claimed]) -> Chain:
        chain = Chain()
        deadline = asyncio.get_running_loop().time() + self.chain_budget_s
        for index, item in enumerate(rows):
            if self._stopping.is_set() or asyncio.get_running_loop().time() > deadline:
                chain.untried = rows[index:]
                break
            message = Outgoing(item.event_id, item.instance, item.event, item.payload.encode())
            try:
                duplicate = await self.transport.publish(message)
            except Unconfirmed as exc:
                chain.failed = (item, scrub(str(exc), self._secret()))
                chain.untried = rows[index + 1 :]
                break
            chain.delivered.append(item)
            chain.duplicates += int(duplicate)
        return chain

    async def _write(self, done: Sequence[Chain]) -> None:
        now = utcnow()
        written: list[dict[str, Any]] = []
        untried: list[Claimed] = []
        for chain in done:
            delay = 0.0
            if chain.failed is not None:
                item, error = chain.failed
                delay = backoff.delay(
                    item.attempts,
                    self.settings.sink_retry_base_delay_s,
                    self.settings.sink_retry_max_delay_s,
                    random.random(),
                )
                log.info(
                    "sink publish not confirmed",
                    sink=self.name,
                    event_id=item.event_id,
                    instance=item.instance,
                    attempts=item.attempts + 1,
                    retry_in_s=round(delay, 2),
                    error=error,
                )
            written += outcomes(chain, now, delay)
            untried += chain.untried
            self._count(chain)
        for tries in range(3):
            try:
                async with self.db.transaction() as session:
                    await repository.record_outcomes(session, written)
                    await repository.release(session, untried, now)
                return
            except Exception:
                if tries == 2:
                    # The rows stay claimed: their lease runs out and they are published
                    # again (a duplicate the consumer drops by the event id).
                    log.exception("sink outcome write failed", sink=self.name, rows=len(written))
                    return
                await asyncio.sleep(0.2 * (tries + 1))

    def _count(self, chain: Chain) -> None:
        delivered = len(chain.delivered) - chain.duplicates
        if delivered:
            SINK_PUBLISHES.labels(self.name, "delivered").inc(delivered)
        if chain.duplicates:
            SINK_PUBLISHES.labels(self.name, "duplicate").inc(chain.duplicates)
        if chain.failed is not None:
            SINK_PUBLISHES.labels(self.name, "retried").inc()

    # --- metrics and retention ------------------------------------------------------------

    async def _housekeeping(self) -> None:
        clock = asyncio.get_running_loop().time()
        try:
            if clock >= self._stats_at:
                self._stats_at = clock + STATS_INTERVAL_S
                await self.stats()
            if clock >= self._cleanup_at:
                self._cleanup_at = clock + CLEANUP_INTERVAL_S
                await self.cleanup()
        except Exception:
            log.exception("sink housekeeping failed", sink=self.name)

    async def stats(self) -> SinkStats:
        """This sink's backlog, read now; the gauges follow it."""
        async with self.db.session() as session:
            found = (await repository.stats(session, [self.name])).get(self.name)
        found = found or repository.EMPTY
        publish_gauges(self.name, found, utcnow())
        return found

    async def cleanup(self) -> int:
        """Delete delivered rows older than `sink_retention_s`, in chunks."""
        cutoff = utcnow() - timedelta(seconds=self.settings.sink_retention_s)
        total = 0
        while True:
            async with self.db.transaction() as session:
                deleted = await repository.delete_delivered_before(session, cutoff, CLEANUP_CHUNK)
            total += deleted
            if deleted < CLEANUP_CHUNK:
                return total


def lag_s(found: SinkStats, now: datetime) -> float:
    if found.oldest_pending_at is None:
        return 0.0
    return max(0.0, (now - found.oldest_pending_at).total_seconds())


def publish_gauges(name: str, found: SinkStats, now: datetime) -> None:
    SINK_PENDING.labels(name).set(found.pending)
    SINK_RETRYING.labels(name).set(found.retrying)
    SINK_LAG.labels(name).set(lag_s(found, now))
