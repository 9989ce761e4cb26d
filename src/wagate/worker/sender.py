"""The consumer of one instance's queue: one send at a time, in order, paced, retried."""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NoReturn, Protocol

import structlog

from wagate.batching import GroupCommit
from wagate.db import Database, utcnow
from wagate.engine_failures import BREAKER_CODES
from wagate.engines.actions import SEND
from wagate.engines.base import OutgoingMedia, OutgoingMessage, SendResult
from wagate.engines.status import Status
from wagate.events.payloads import MessageAckData
from wagate.history.repository import store as history
from wagate.instances import repository as instances
from wagate.instances.cache import CachedInstance
from wagate.message_status import MessageStatus
from wagate.messages import repository
from wagate.messages.outcomes import Outcome, Outcomes
from wagate.messages.recent import RecentSends
from wagate.messages.repository import SendRow
from wagate.metrics import DEAD_LETTERS, SEND_RETRIES, SENDS
from wagate.models import OutgoingMedia as MediaRow
from wagate.node import (
    HasBus,
    HasDb,
    HasInstances,
    HasManager,
    HasRecentSends,
    HasSendPolicy,
    HasSettings,
)
from wagate.policy import rules
from wagate.policy.rules import BreakerState, Hold
from wagate.policy.schemas import Policy
from wagate.queue.base import Entry, Queue
from wagate.tasks import cancel_requested
from wagate.worker.outcome import AfterFailure, Next, RetryDelays, after_failure

log = structlog.get_logger(__name__)

BATCH = 50  # taken at a time: what a dead node leaves to be reclaimed
CHUNK = 25
# An idle sender's wait for its queue: new entries and the node's stop (`stop`) end it at
# once, so it only bounds how often an idle sender looks around (its status; abandoned entries,
# looked for far less often once settled, redis_streams.SETTLED_CLAIM_FACTOR). A node holding
# 10,000 instances woke 10,000 senders a second with 1 s, and with 10 s still a thousand.
IDLE_WAIT_S = 30.0
# A sender whose instance is not connected waits for the connection this long at most before
# it looks again (whether the instance is still here): it is woken at once on connect.
NOT_CONNECTED_WAIT_S = 1.0
STOP_CHECK_S = 0.05  # how soon a sender holding a message for the connection sees the stop
SETTINGS_TTL_S = 2.0
# The policy is read again when this node wrote it (`SendPolicies.version`: its routes run on
# the holder) and at the latest after this long, for what no write here reaches (a change
# that raced a takeover).
POLICY_TTL_S = 10.0


def outgoing(row: SendRow, media: MediaRow | None) -> OutgoingMessage:
    body = dict(row.body)
    reply_to = body.pop("reply_to", None)
    mentions = tuple(body.pop("mentions", ()) or ())
    mention_everyone = bool(body.pop("mention_everyone", False))
    return OutgoingMessage(
        kind=row.kind,
        to_jid=row.to_jid,
        body=body,
        correlation_id=row.correlation_id,
        media=OutgoingMedia(media.data, media.mimetype, media.filename) if media else None,
        reply_to=reply_to,
        mentions=mentions,
        mention_everyone=mention_everyone,
    )


def media_reference(media: MediaRow | None) -> dict[str, Any] | None:
    """What the history keeps of a send's media (the bytes go once it is sent)."""
    if media is None:
        return None
    return {"mimetype": media.mimetype, "size": len(media.data), "filename": media.filename}


def own_send(row: SendRow, media: dict[str, Any] | None = None) -> history.OwnSend:
    """A recorded send as the history keeps it (record_sent set its message id and time)."""
    return history.OwnSend(
        media=media,
        instance_id=row.instance_id,
        chat=row.to_jid,
        message_id=row.message_id or "",
        kind=row.kind,
        body=row.body,
        timestamp=row.sent_at or utcnow(),
        correlation_id=row.correlation_id,
    )


@dataclass(frozen=True, slots=True)
class Step:
    """A sender's write between two engine calls: the outcomes of the sends done, and the
    message it sends next (none at the end of a chunk)."""

    done: list[SendRow]
    claim: int | None


Claimed = tuple[SendRow, MediaRow | None]


class SendWrites:
    """The claims and outcome writes of all the senders of a node, group-committed: many
    instances sending at once share one write (on PostgreSQL one statement) for the outcomes
    they record and the messages they claim next."""

    def __init__(self, db: Database, recent: RecentSends) -> None:
        self.db = db
        self.recent = recent  # the sends recorded here, for their receipts
        self.step: GroupCommit[Step, Claimed | None] = GroupCommit(self._step)
        self.keep: GroupCommit[list[history.OwnSend], None] = GroupCommit(self._keep)

    async def _step(self, batch: list[Step]) -> list[Claimed | None]:
        done = [row for step in batch for row in step.done]
        pks = [step.claim for step in batch if step.claim is not None]
        async with self.db.autocommit() as connection:
            found = await repository.record_and_claim(connection, done, pks)
        by_pk = {row.id: (row, media) for row, media in found}
        return [by_pk.get(step.claim) if step.claim is not None else None for step in batch]

    def remember(self, sent: list[SendRow]) -> None:
        """Sends the engine just made, before the write that records them: a receipt may come
        first (the simulator's within milliseconds, a phone's on a busy node), and it is
        written on the record by its key, leaving the status to that write."""
        self.recent.add(
            (row.instance_id, row.message_id, row.id, row.correlation_id)
            for row in sent
            if row.message_id
        )

    async def _keep(self, batch: list[list[history.OwnSend]]) -> list[None]:
        # One transaction: the messages and their chats' summaries commit together. Their
        # receipts are kept on their send records, read with them (history.later_status).
        sends = [send for sends in batch for send in sends]
        async with self.db.transaction() as session:
            await history.write_sent(session, sends)
        return [None] * len(batch)


class Stopping(Exception):
    """The node stops while a send waits for its connection, or between two sends: leave
    the entries not handled unacknowledged."""

    def __init__(self, handled: frozenset[int] = frozenset()) -> None:
        super().__init__()
        self.handled = handled  # the messages of the chunk done with (their entries are)


class FencedOff(Stopping):
    """This node no longer holds the instance's lease: the new holder sends the rest."""


class Held(Exception):
    """The send policy holds the instance's next send: what is in hand goes back to the
    queue, and the sender sleeps until the release."""

    def __init__(self, hold: Hold) -> None:
        super().__init__(hold.rule)
        self.hold = hold


class Tripped(Exception):
    """WhatsApp's answer (rate limited, spam suspected) or the failure rate opens the
    instance's breaker: the message in hand is not spent, it waits for the resume."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SenderNode(
    HasBus, HasDb, HasInstances, HasManager, HasRecentSends, HasSendPolicy, HasSettings, Protocol
):
    """What a sender uses of the node."""


class InstanceSender:
    def __init__(
        self,
        state: SenderNode,
        queue: Queue,
        outcomes: Outcomes,
        name: str,
        writes: SendWrites | None = None,
    ) -> None:
        self.state = state
        self.writes = writes or SendWrites(state.db, state.recent_sends)
        self.queue = queue
        self.outcomes = outcomes
        self.name = name
        self.stopping = False
        self._last_send = 0.0
        self._settings: dict[str, Any] = {}
        self._settings_at = -SETTINGS_TTL_S
        self._instance_id = 0
        self._media: dict[int, dict[str, Any] | None] = {}  # of the chunk's sends, for history
        self._recorded: list[SendRow] = []  # sends recorded, their events not published yet
        self._policy: tuple[Policy, BreakerState] | None = None
        self._policy_at = -POLICY_TTL_S
        self._policy_version = -1
        # The instance's queued messages may carry a hold to clear (a node that stopped while
        # they were held left it): checked once at the first send that may go.
        self._held = True
        # The outcomes of the breaker's window, a bucket per second: [second, sent, failed]
        # (bounded by the window's seconds, whatever the rate of sends).
        self._outcomes: deque[list[int]] = deque()
        self.log = log.bind(instance=name)

    def stop(self) -> None:
        """End the run after the message in hand; a wait for the queue or the policy ends now
        (the node stops)."""
        self.stopping = True
        self.queue.interrupt(self.name)
        if self._instance_id:
            self.state.send_policy.wake(self._instance_id)

    async def run(self) -> None:
        manager = self.state.manager
        adopted = False
        while not self.stopping and not cancel_requested():
            status = manager.status_of(self.name)
            if status is None:
                return  # the instance was deleted or left this node
            if status != Status.CONNECTED:
                # Queued sends wait for the connection rather than burning their attempts.
                adopted = False
                await manager.wait_connected(self.name, NOT_CONNECTED_WAIT_S)
                continue
            try:
                if not adopted:
                    self.log.debug("sender adopting the queue")
                    await self.queue.adopt(self.name)
                    adopted = True
                entries = await self.queue.take(self.name, BATCH, IDLE_WAIT_S)
                if entries:
                    self.log.debug("sender took", count=len(entries))
                    await self._handle(entries)
            except Held as held:
                # Nothing polls meanwhile: one sleep until the release (or a change of the
                # policy, a resume, the node's stop), then what was in hand is taken again.
                await self.state.send_policy.wait(self._instance_id, held.hold.until)
                self._policy = None
                adopted = False
            except asyncio.CancelledError:
                raise
            except Exception:
                self.log.exception("worker step failed")
                adopted = False  # what the failed step had taken is taken again
                await asyncio.sleep(1)

    async def _refresh_settings(self) -> None:
        """The instance's settings from the node's instance cache (a settings change, made on
        the holder or forwarded to it, drops the entry at once), read on a miss."""
        cache = self.state.instances
        found = cache.instance(self.name)
        if found is None:
            if cache.ttl_s <= 0 and time.monotonic() - self._settings_at < SETTINGS_TTL_S:
                return  # the cache is turned off: read at most every SETTINGS_TTL_S
            self._settings_at = time.monotonic()
            generation = cache.generation
            async with self.state.db.session() as session:
                row = await instances.get_by_name(session, self.name)
            if row is None:
                return
            found = CachedInstance.of(row)
            cache.put_instance(found, generation)
        self._settings = found.settings
        self._instance_id = found.id

    async def _handle(self, entries: list[Entry]) -> None:
        await self._refresh_settings()
        for start in range(0, len(entries), CHUNK):
            if self.stopping:
                return  # not acknowledged: taken again (or reclaimed) later
            chunk = entries[start : start + CHUNK]
            try:
                await self._send_chunk(chunk)
            except Stopping as stop:
                done = [entry for entry in chunk if entry.pk in stop.handled]
                if done:
                    await self.queue.ack(self.name, done)
                return
            # Only now, with every outcome of the chunk recorded, are its entries done.
            await self.queue.ack(self.name, chunk)

    async def _send_chunk(self, chunk: list[Entry]) -> None:
        pks = list(dict.fromkeys(entry.pk for entry in chunk))  # a duplicate entry once
        # What a chunk cut short recorded is announced while the send policy is read (the first
        # chunk after a takeover waits for both; the policy is cached for the sends that follow).
        await asyncio.gather(self._announce(), self._load_policy())
        self._media.clear()  # what a stopped chunk left: it is sent again, and found again
        sent: list[tuple[SendRow, SendResult]] = []
        for index, pk in enumerate(pks):
            if self.stopping:
                await self._record_sent(sent)
                raise Stopping(frozenset(pks[:index]))  # the rest stays queued
            # Before each engine call, one write records the sends before it and claims this
            # one: a crash re-sends at most the message in flight (at-least-once), and a
            # message final already (a duplicate entry, a redelivery) is not claimed.
            claimed = await self._step(sent, pk)
            if claimed is None:
                continue
            row, media = claimed
            target, policy = await self._admit(row)
            if media is not None:
                self._media[row.id] = media_reference(media)
            try:
                result = await self.send(row, media, flush=lambda: self._record_sent(sent))
            except Tripped as tripped:
                until = await self.state.send_policy.trip(
                    self.name, self._instance_id, tripped.reason
                )
                self._policy = None
                await self._hold([row], Hold(until, rules.PAUSED))
            if result is not None:
                await self.state.send_policy.count(self._instance_id, policy, target)
                sent.append((row, result))
                if self.outcomes.waited_for(row.correlation_id):
                    # A caller on this node waits for this one (a sync send): record it (and
                    # what came before it) now rather than at the end of the chunk.
                    await self._record_sent(sent)
        await self._record_sent(sent)

    async def _load_policy(self) -> tuple[Policy, BreakerState]:
        policies = self.state.send_policy
        version = policies.version(self._instance_id)
        if (
            self._policy is None
            or version != self._policy_version
            or time.monotonic() - self._policy_at > POLICY_TTL_S
        ):
            # A wake-up from before this read is answered by it; one left set would end the
            # next hold at once (the message claimed again, shown `sending` for a moment).
            policies.wakeup(self._instance_id).clear()
            self._policy = await policies.load(self._instance_id)
            self._policy_at = time.monotonic()
            self._policy_version = version  # a write during the read: read again next time
        return self._policy

    async def _admit(self, row: SendRow) -> tuple[rules.Target, Policy]:
        """The send policy's word on the claimed next send: its target and the policy it is
        counted under when it may go; else it goes back to `queued`, held (the sends before
        it are recorded already, the rest of the chunk not claimed yet)."""
        policies = self.state.send_policy
        policy, state = await self._load_policy()
        target = await policies.target(self._instance_id, policy, row.to_jid)
        hold = await policies.gate(self._instance_id, policy, state, target)
        if policy.warmup is not None and state.warmup_started_at is None:
            self._policy = None  # the gate started the warm-up: read its day 1 back
        if hold is None:
            if self._held:
                await policies.release_queued(self._instance_id)
                self._held = False
            return target, policy
        await self._hold([row], hold)

    async def _hold(self, rows: list[SendRow], hold: Hold) -> NoReturn:
        await self._announce()
        async with self.state.db.transaction() as session:
            await repository.unclaim(session, [row.id for row in rows])
        await self.state.send_policy.hold_queued(self._instance_id, hold)
        self._held = True
        self._media.clear()
        self.log.info("sends held", rule=hold.rule, until=hold.until.isoformat())
        raise Held(hold)

    def _observe(self, ok: bool) -> None:
        """One outcome into the breaker's window; opens it when the failure rate crosses the
        policy's threshold."""
        if self._policy is None:
            return
        breaker = self._policy[0].breaker
        second = int(time.monotonic())
        if not self._outcomes or self._outcomes[-1][0] != second:
            self._outcomes.append([second, 0, 0])
        self._outcomes[-1][1 if ok else 2] += 1
        while self._outcomes[0][0] <= second - breaker.window_s:
            self._outcomes.popleft()
        if ok:
            return
        sent = sum(bucket[1] for bucket in self._outcomes)
        failed = sum(bucket[2] for bucket in self._outcomes)
        if rules.failure_rate_trips(breaker, sent, failed):
            self._outcomes.clear()
            raise Tripped("failure_rate")

    async def _pace(self) -> None:
        interval = int(self._settings.get("send_interval_ms", 0))
        jitter = int(self._settings.get("send_jitter_ms", 0))
        if not interval and not jitter:
            return
        gap = (interval + random.random() * jitter) / 1000
        wait = self._last_send + gap - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)

    async def send(
        self, row: SendRow, media: MediaRow | None, flush: Callable[[], Awaitable[None]]
    ) -> SendResult | None:
        """Send one message (retrying transient failures in place, which keeps the order);
        the result, or None when it failed for good (recorded already)."""
        message = outgoing(row, media)
        while True:
            await self._pace()
            if self.state.manager.ownership.fencing_token(self.name) is None:
                await flush()  # what this node did send is recorded; nothing more is
                raise FencedOff
            try:
                client = self.state.manager.connected_client(self.name)
                self.log.debug("sending", correlation_id=row.correlation_id)
                result = await client.call(SEND, message)
            except Exception as exc:
                await flush()
                step = self._after_failure(row, exc)
                if step.failed:
                    await self._fail(row, step.code, str(exc))
                    return None
                if step.next is Next.WAIT_CONNECTION:
                    if not await self._requeue_until_connected(row):
                        return None
                    continue
                if not await self._retry_later(row, step, str(exc)):
                    return None
            else:
                self._observe(True)
                return result
            finally:
                self._last_send = time.monotonic()

    def _after_failure(self, row: SendRow, exc: Exception) -> AfterFailure:
        """What the failed send does next (called in the handler: the log has the traceback).
        Raises Tripped when the failure opens the instance's breaker."""
        code = getattr(exc, "code", None)
        if code in BREAKER_CODES:
            raise Tripped(str(code)) from exc
        settings = self.state.settings
        step = after_failure(
            exc,
            connected=self.state.manager.status_of(self.name) == Status.CONNECTED,
            attempts=row.attempts,
            max_attempts=row.max_attempts,
            policy=RetryDelays(settings.send_retry_base_s, settings.send_retry_max_s),
            jitter=random.random(),
        )
        if step.unexpected:
            self.log.exception("send raised", correlation_id=row.correlation_id)
        if step.next is not Next.WAIT_CONNECTION:
            self._observe(False)  # a lost connection is no answer of WhatsApp's
        return step

    async def _retry_later(self, row: SendRow, step: AfterFailure, message: str) -> bool:
        """Back to queued (with the error and when it is tried again) for the backoff, then
        sending again with one more attempt: in place, which keeps the order. False when the
        message was revoked (cancelled) meanwhile."""
        SEND_RETRIES.inc()
        error = {"code": step.code, "message": message}
        async with self.state.db.transaction() as session:
            await repository.set_fields(
                session,
                row.id,
                status=MessageStatus.QUEUED,
                error=error,
                next_attempt_at=utcnow() + timedelta(seconds=step.delay_s),
            )
        await asyncio.sleep(step.delay_s)
        row.attempts += 1
        return await self._reclaim(row)

    async def _reclaim(self, row: SendRow) -> bool:
        """Take the message back from `queued` for its next attempt; False when it was
        revoked (cancelled) meanwhile: whoever cancelled it announced it, nothing is sent."""
        async with self.state.db.transaction() as session:
            return await repository.reclaim(session, row.id, row.attempts)

    async def _requeue_until_connected(self, row: SendRow) -> bool:
        row.attempts -= 1
        async with self.state.db.transaction() as session:
            await repository.set_fields(
                session, row.id, status=MessageStatus.QUEUED, attempts=row.attempts
            )
        while (status := self.state.manager.status_of(self.name)) != Status.CONNECTED:
            if self.stopping:
                raise Stopping
            if status is None:
                # The instance left this node (its lease went, or it was deleted): its holder
                # sends the message. Waiting here instead would return at once every round
                # and, never suspending, starve the event loop.
                raise FencedOff
            await self.state.manager.wait_connected(self.name, STOP_CHECK_S)
        row.attempts += 1
        return await self._reclaim(row)

    async def _record_sent(self, sent: list[tuple[SendRow, SendResult]]) -> None:
        """Record the sends done so far in one write, then announce every recorded send."""
        if sent:
            await self._step(sent, None)
        await self._announce()

    async def _step(
        self, sent: list[tuple[SendRow, SendResult]], claim: int | None
    ) -> Claimed | None:
        """Record the sends done so far and claim message `claim` (None: no more) in one
        write; the claimed message and its media, None when it is final already or
        cancelled. The sends' events wait for `_announce`."""
        for row, result in sent:
            row.status, row.message_id, row.sent_at = (
                MessageStatus.SENT,
                result.message_id,
                result.timestamp,
            )
            row.error = None
        batch, sent[:] = [row for row, _ in sent], []
        self.writes.remember(batch)
        claimed = await self.writes.step(Step(batch, claim))
        for row in batch:
            SENDS.labels(row.kind, MessageStatus.SENT).inc()
            # The outcome is durable: a sync caller answers now, not after the events.
            self.outcomes.resolve(Outcome.of(row))
        self._recorded.extend(batch)
        return claimed

    async def _announce(self) -> None:
        """The events and history of the recorded sends, together: each event's durable sinks
        (the webhook outbox) cost a database round trip, which need not hold up the next, and
        the history's write goes beside them (a chunk's in one go, as a write per message
        would make many small group commits)."""
        if not self._recorded:
            return
        batch, self._recorded = self._recorded, []
        sends = [own_send(row, self._media.pop(row.id, None)) for row in batch]
        await asyncio.gather(self._keep_history(sends), *(self._finish(row) for row in batch))

    async def _keep_history(self, sends: list[history.OwnSend]) -> None:
        """Into the history. A failure there is logged and nothing more: the sends are done
        and recorded, and must not be sent again for it."""
        try:
            await self.writes.keep(sends)
        except Exception as exc:
            self.log.warning("sends not kept in the history", error=str(exc))

    async def _fail(self, row: SendRow, code: str, message: str) -> None:
        self._media.pop(row.id, None)
        now = utcnow()
        row.status, row.error, row.failed_at = (
            MessageStatus.FAILED,
            {"code": code, "message": message},
            now,
        )
        async with self.state.db.transaction() as session:
            await repository.set_fields(
                session,
                row.id,
                status=MessageStatus.FAILED,
                error=row.error,
                failed_at=now,
                dead_lettered=True,
                next_attempt_at=None,
            )
        SENDS.labels(row.kind, MessageStatus.FAILED).inc()
        DEAD_LETTERS.inc()
        try:
            await self.queue.dead_letter(self.name, row.id, message)
        except Exception as exc:  # the table is the dead-letter record; the stream is a copy
            self.log.warning("dead-letter stream write failed", error=str(exc))
        self.log.info("send failed", correlation_id=row.correlation_id, code=code)
        await self._finish(row)

    async def _finish(self, row: SendRow) -> None:
        ack = MessageAckData(
            correlation_id=row.correlation_id,
            status="failed" if row.status == MessageStatus.FAILED else "sent",
            attempts=row.attempts,
            message_id=row.message_id or None,
            error=row.error or None,
        )
        await self.state.bus.publish(self.name, row.instance_id, ack)
        self.outcomes.resolve(Outcome.of(row))
