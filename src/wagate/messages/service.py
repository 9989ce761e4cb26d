"""MessageService: the one path of every send. Record the message (status queued), commit,
enqueue, then answer at once (async) or when the worker has an outcome (sync)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy.exc import IntegrityError

from wagate.db import utcnow
from wagate.errors import ApiError, Conflict, InstanceNotConnected, NotFound, error_body
from wagate.events.bus import isoformat
from wagate.instances import repository as instances
from wagate.messages import repository
from wagate.messages.outcomes import Outcome, Outcomes
from wagate.messages.prepare import Checked, Prepared, load_media
from wagate.models import IdempotencyKey, Instance, Message
from wagate.models import OutgoingMedia as MediaRow
from wagate.queue.base import Queue
from wagate.state import AppState

log = structlog.get_logger(__name__)

FAILURE_STATUS = {"not_on_whatsapp": 422, "instance_not_connected": 409}


@dataclass(slots=True)
class Answer:
    status_code: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def message_location(instance: str, correlation_id: str) -> str:
    return f"/v1/instances/{instance}/messages/{correlation_id}"


def queued_answer(instance: str, correlation_id: str) -> Answer:
    return Answer(
        202,
        {"correlation_id": correlation_id, "status": "queued"},
        {"Location": message_location(instance, correlation_id)},
    )


def outcome_answer(outcome: Outcome | None, correlation_id: str) -> Answer:
    """The answer of a sync send for its outcome (None: still going after the timeout)."""
    if outcome is None:
        body = error_body(
            "send_timeout",
            "the send did not finish in time; it goes on asynchronously",
            {"correlation_id": correlation_id},
        )
        return Answer(504, body)
    if outcome.status != "failed":
        return Answer(
            200,
            {
                "correlation_id": correlation_id,
                "status": "sent",
                "message_id": outcome.message_id,
                "timestamp": isoformat(outcome.sent_at) if outcome.sent_at else None,
            },
        )
    error = outcome.error or {}
    code = str(error.get("code") or "engine_error")
    status = FAILURE_STATUS.get(code, 502)
    if status == 502:
        code = "engine_error"
    details = {"correlation_id": correlation_id, "attempts": outcome.attempts}
    return Answer(status, error_body(code, str(error.get("message") or "the send failed"), details))


class MessageService:
    def __init__(self, state: AppState, queue: Queue, outcomes: Outcomes) -> None:
        self.state = state
        self.queue = queue
        self.outcomes = outcomes
        self.on_enqueued: list[Any] = []  # callables(instance): wake a local worker

    async def instance(self, name: str) -> Instance:
        async with self.state.db.session() as session:
            row = await instances.get_by_name(session, name)
        if row is None:
            raise NotFound(f"instance '{name}' not found")
        return row

    def _row(self, instance: Instance, prepared: Prepared) -> tuple[Message, MediaRow | None]:
        max_attempts = int((instance.settings or {}).get("max_attempts", 3))
        now = utcnow()
        row = Message(
            correlation_id=new_correlation_id(),
            instance_id=instance.id,
            kind=prepared.kind,
            to=prepared.to,
            to_jid=prepared.to_jid,
            body=prepared.body,
            status="queued",
            attempts=0,
            max_attempts=max_attempts,
            dead_lettered=False,
            created_at=now,
            updated_at=now,
        )
        media = None
        if prepared.media is not None:
            media = MediaRow(
                mimetype=prepared.media.mimetype,
                filename=prepared.media.filename,
                data=prepared.media.data,
            )
        return row, media

    async def enqueue(self, instance: str, pks: Sequence[int]) -> None:
        await self.queue.enqueue(instance, pks)
        for wake in self.on_enqueued:
            wake(instance)

    async def signal(self, instance: str, pks: Sequence[int]) -> None:
        """Enqueue messages whose rows are committed already. They are accepted whatever
        happens here: the table is the record, and if the queue is unreachable the reconciler
        enqueues them once it is back. Answering 503 now would make the client send again
        what will be sent anyway (a duplicate)."""
        try:
            await self.enqueue(instance, pks)
        except Exception as exc:
            log.warning(
                "queue unreachable; messages stay queued in the table for the reconciler",
                instance=instance,
                count=len(pks),
                error=type(exc).__name__,
            )

    async def submit(
        self, name: str, checked: Checked, *, wait: bool, idempotency_key: str | None = None
    ) -> Answer:
        instance = await self.instance(name)
        key_row: IdempotencyKey | None = None
        if idempotency_key is not None:
            replay = await self._replay(instance, idempotency_key, checked.request_hash)
            if replay is not None:
                return replay
        if wait and instance.status != "connected":
            raise InstanceNotConnected(f"instance '{name}' is not connected")
        prepared = await load_media(checked, self.state.settings)
        row, media = self._row(instance, prepared)
        try:
            async with self.state.db.transaction() as session:
                await repository.add_messages(session, [row], [media])
                if idempotency_key is not None:
                    key_row = IdempotencyKey(
                        instance_id=instance.id,
                        key=idempotency_key,
                        request_hash=checked.request_hash,
                        response_body={"correlation_id": row.correlation_id, "wait": wait},
                        created_at=utcnow(),
                    )
                    session.add(key_row)
        except IntegrityError:
            if idempotency_key is None:
                raise
            # Another call with the same key won the race: answer as its replay.
            replay = await self._replay(instance, idempotency_key, checked.request_hash)
            if replay is None:
                raise
            return replay
        await self.signal(name, [row.id])
        if wait:
            outcome = await self.outcomes.wait(
                row.correlation_id, self.state.settings.sync_timeout_s
            )
            answer = outcome_answer(outcome, row.correlation_id)
        else:
            answer = queued_answer(name, row.correlation_id)
        if key_row is not None and answer.status_code != 504:
            async with self.state.db.transaction() as session:
                await repository.save_idempotent_answer(
                    session, key_row.id, answer.status_code, answer.body
                )
        return answer

    async def _replay(self, instance: Instance, key: str, request_hash: str) -> Answer | None:
        async with self.state.db.transaction() as session:
            found = await repository.idempotency_key(session, instance.id, key)
            if found is None:
                return None
            expired = found.created_at < utcnow() - timedelta(
                seconds=self.state.settings.idempotency_ttl_s
            )
            if expired:
                await repository.drop_idempotency_key(session, found.id)
                return None
        if found.request_hash != request_hash:
            raise Conflict(
                "this Idempotency-Key was used with another request body",
                details={"idempotency_key": key},
            )
        if found.response_status is not None and found.response_body is not None:
            headers = {}
            if found.response_status == 202:
                correlation_id = str(found.response_body.get("correlation_id"))
                headers["Location"] = message_location(instance.name, correlation_id)
            return Answer(found.response_status, dict(found.response_body), headers)
        # The first call is still waiting for its outcome: wait for the same one.
        pending = found.response_body or {}
        correlation_id = str(pending.get("correlation_id"))
        if not pending.get("wait"):
            return queued_answer(instance.name, correlation_id)
        outcome = await self.outcomes.wait(correlation_id, self.state.settings.sync_timeout_s)
        return outcome_answer(outcome, correlation_id)

    async def submit_batch(
        self, name: str, items: list[Checked | ApiError]
    ) -> list[dict[str, Any]]:
        """Queue every valid item in one transaction and one enqueue; a bad item fails alone."""
        instance = await self.instance(name)
        results: list[dict[str, Any]] = []
        rows: list[Message] = []
        media: list[MediaRow | None] = []
        for item in items:
            if isinstance(item, ApiError):
                results.append(_error_result(item))
                continue
            try:
                prepared = await load_media(item, self.state.settings)
            except ApiError as exc:
                results.append(_error_result(exc))
                continue
            row, row_media = self._row(instance, prepared)
            rows.append(row)
            media.append(row_media)
            results.append({"correlation_id": row.correlation_id, "status": "queued"})
        if rows:
            async with self.state.db.transaction() as session:
                await repository.add_messages(session, rows, media)
            await self.signal(name, [row.id for row in rows])
        return results

    async def retry_dead_letter(self, correlation_id: str, allowed: str | None) -> Answer:
        async with self.state.db.transaction() as session:
            found = await repository.dead_letter(session, correlation_id)
            if found is None or (allowed is not None and found[1] != allowed):
                raise NotFound(f"dead letter '{correlation_id}' not found")
            message, instance = found
            await repository.set_fields(
                session,
                message.id,
                status="queued",
                attempts=0,
                dead_lettered=False,
                error=None,
                failed_at=None,
                next_attempt_at=None,
            )
        await self.signal(instance, [message.id])
        return queued_answer(instance, correlation_id)


def _error_result(exc: ApiError) -> dict[str, Any]:
    return error_body(exc.code, exc.message, exc.details)
