"""The consumer of one instance's queue: one send at a time, in order, paced, retried."""

from __future__ import annotations

import asyncio
import random
import time
from datetime import timedelta
from typing import Any

import structlog

from wagate.db import utcnow
from wagate.engines.base import (
    EngineFailure,
    OutgoingMedia,
    OutgoingMessage,
    PermanentEngineError,
    SendResult,
)
from wagate.engines.status import Status
from wagate.instances import repository as instances
from wagate.messages import repository
from wagate.messages.outcomes import Outcome, Outcomes
from wagate.messages.schemas import FINAL_STATUSES
from wagate.metrics import DEAD_LETTERS, SEND_RETRIES, SENDS
from wagate.models import Message
from wagate.models import OutgoingMedia as MediaRow
from wagate.queue.base import Entry, Queue
from wagate.queue.retry import decide
from wagate.state import AppState

log = structlog.get_logger(__name__)

BATCH = 100
IDLE_WAIT_S = 1.0
NOT_CONNECTED_POLL_S = 0.05
SETTINGS_TTL_S = 2.0


def outgoing(row: Message, media: MediaRow | None) -> OutgoingMessage:
    body = dict(row.body)
    reply_to = body.pop("reply_to", None)
    mentions = tuple(body.pop("mentions", ()) or ())
    return OutgoingMessage(
        kind=row.kind,
        to_jid=row.to_jid,
        body=body,
        correlation_id=row.correlation_id,
        media=OutgoingMedia(media.data, media.mimetype, media.filename) if media else None,
        reply_to=reply_to,
        mentions=mentions,
    )


class InstanceSender:
    def __init__(self, state: AppState, queue: Queue, outcomes: Outcomes, name: str) -> None:
        self.state = state
        self.queue = queue
        self.outcomes = outcomes
        self.name = name
        self.stopping = False
        self._last_send = 0.0
        self._settings: dict[str, Any] = {}
        self._settings_at = -SETTINGS_TTL_S
        self._instance_id = 0
        self.log = log.bind(instance=name)

    async def run(self) -> None:
        manager = self.state.manager
        while not self.stopping:
            if manager.status_of(self.name) != Status.CONNECTED:
                # Queued sends wait for the connection rather than burning their attempts.
                await asyncio.sleep(NOT_CONNECTED_POLL_S)
                continue
            try:
                entries = await self.queue.take(self.name, BATCH, IDLE_WAIT_S)
                if entries:
                    await self._handle(entries)
            except asyncio.CancelledError:
                raise
            except Exception:
                self.log.exception("worker step failed")
                await asyncio.sleep(1)

    async def _refresh_settings(self) -> None:
        if time.monotonic() - self._settings_at < SETTINGS_TTL_S:
            return
        async with self.state.db.session() as session:
            row = await instances.get_by_name(session, self.name)
        if row is not None:
            self._settings = dict(row.settings or {})
            self._instance_id = row.id
        self._settings_at = time.monotonic()

    async def _handle(self, entries: list[Entry]) -> None:
        await self._refresh_settings()
        async with self.state.db.session() as session:
            loaded = await repository.load_for_send(session, [e.pk for e in entries])
        done: list[Entry] = []
        try:
            for entry in entries:
                if self.stopping:
                    break
                found = loaded.get(entry.pk)
                if found is not None and found[0].status not in FINAL_STATUSES:
                    await self.send(*found)
                done.append(entry)
        finally:
            # Only what has an outcome recorded is acknowledged; the rest is taken again.
            await self.queue.ack(self.name, done)

    async def _pace(self) -> None:
        interval = int(self._settings.get("send_interval_ms", 0))
        jitter = int(self._settings.get("send_jitter_ms", 0))
        if not interval and not jitter:
            return
        gap = (interval + random.random() * jitter) / 1000
        wait = self._last_send + gap - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)

    async def send(self, row: Message, media: MediaRow | None) -> None:
        message = outgoing(row, media)
        settings = self.state.settings
        while True:
            await self._pace()
            row.attempts += 1
            async with self.state.db.transaction() as session:
                await repository.set_fields(
                    session, row.id, status="sending", attempts=row.attempts
                )
            try:
                client = self.state.manager.connected_client(self.name)
                result = await client.send(message)
            except PermanentEngineError as exc:
                await self._fail(row, exc.code, str(exc))
                return
            except Exception as exc:
                code = exc.code if isinstance(exc, EngineFailure) else "engine_error"
                if not isinstance(exc, EngineFailure):
                    self.log.exception("send raised", correlation_id=row.correlation_id)
                decision = decide(
                    row.attempts,
                    row.max_attempts,
                    False,
                    settings.send_retry_base_s,
                    settings.send_retry_max_s,
                    random.random(),
                )
                if not decision.retry:
                    await self._fail(row, code, str(exc))
                    return
                SEND_RETRIES.inc()
                error = {"code": code, "message": str(exc)}
                async with self.state.db.transaction() as session:
                    await repository.set_fields(
                        session,
                        row.id,
                        status="queued",
                        error=error,
                        next_attempt_at=utcnow() + timedelta(seconds=decision.delay_s),
                    )
                await asyncio.sleep(decision.delay_s)
                continue
            finally:
                self._last_send = time.monotonic()
            await self._sent(row, result)
            return

    async def _sent(self, row: Message, result: SendResult) -> None:
        row.status, row.message_id, row.sent_at, row.error = (
            "sent",
            result.message_id,
            result.timestamp,
            None,
        )
        async with self.state.db.transaction() as session:
            await repository.set_fields(
                session,
                row.id,
                status="sent",
                message_id=result.message_id,
                sent_at=result.timestamp,
                error=None,
                next_attempt_at=None,
            )
        SENDS.labels(row.kind, "sent").inc()
        await self._finish(row)

    async def _fail(self, row: Message, code: str, message: str) -> None:
        now = utcnow()
        row.status, row.error, row.failed_at = "failed", {"code": code, "message": message}, now
        async with self.state.db.transaction() as session:
            await repository.set_fields(
                session,
                row.id,
                status="failed",
                error=row.error,
                failed_at=now,
                dead_lettered=True,
                next_attempt_at=None,
            )
        SENDS.labels(row.kind, "failed").inc()
        DEAD_LETTERS.inc()
        try:
            await self.queue.dead_letter(self.name, row.id, message)
        except Exception as exc:  # the table is the dead-letter record; the stream is a copy
            self.log.warning("dead-letter stream write failed", error=str(exc))
        self.log.info("send failed", correlation_id=row.correlation_id, code=code)
        await self._finish(row)

    async def _finish(self, row: Message) -> None:
        data: dict[str, Any] = {
            "correlation_id": row.correlation_id,
            "status": "sent" if row.status != "failed" else "failed",
            "attempts": row.attempts,
        }
        if row.message_id:
            data["message_id"] = row.message_id
        if row.error:
            data["error"] = row.error
        await self.state.bus.publish(self.name, row.instance_id, "message_ack", data)
        self.outcomes.resolve(Outcome.of(row))
