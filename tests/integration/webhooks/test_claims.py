"""Claims on both databases: several workers never take the same row; a stale claim cannot
overwrite a newer one; retention removes only old finished rows."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from tests.conftest import make_settings
from wagate.db import Database, utcnow
from wagate.models import Instance, WebhookAttempt, WebhookDelivery
from wagate.webhooks import repository
from wagate.webhooks.delivery import DeliveryWorker
from wagate.webhooks.outbox import delivery_row
from wagate.webhooks.service import history_of


async def _instance(db: Database) -> int:
    async with db.transaction() as session:
        row = Instance(name="claims", engine="simulator", token_hash="h" * 64, settings={})
        session.add(row)
    return row.id


def _rows(instance_id: int, count: int, url: str = "http://127.0.0.1:9/x") -> list[dict]:
    return [
        delivery_row(
            event_id=f"evt_{n}",
            event="message_received",
            instance_id=instance_id,
            url=url,
            target="instance",
            payload="{}",
        )
        for n in range(count)
    ]


async def test_concurrent_claimers_never_share_a_row(database_url: str) -> None:
    main = Database(database_url)
    nodes = [Database(database_url) for _ in range(4)]
    try:
        instance_id = await _instance(main)
        async with main.transaction() as session:
            await repository.insert_deliveries(session, _rows(instance_id, 400))

        async def node(db: Database) -> list[str]:
            taken: list[str] = []
            while True:
                now = utcnow()
                async with db.transaction() as session:
                    claimed = await repository.claim_due(
                        session, now=now, lease_until=now + timedelta(minutes=5), limit=25
                    )
                if not claimed:
                    return taken
                taken += [c.id for c in claimed]
                await asyncio.sleep(0)

        results = await asyncio.gather(*(node(db) for db in nodes))
        everything = [row_id for taken in results for row_id in taken]
        assert len(everything) == 400
        assert len(set(everything)) == 400
        assert sum(1 for taken in results if taken) >= 2  # they really ran side by side
    finally:
        for db in [main, *nodes]:
            await db.close()


async def test_stale_claim_cannot_overwrite(database_url: str) -> None:
    db = Database(database_url)
    try:
        instance_id = await _instance(db)
        async with db.transaction() as session:
            await repository.insert_deliveries(session, _rows(instance_id, 1))
        now = utcnow()
        async with db.transaction() as session:
            (first,) = await repository.claim_due(
                session, now=now, lease_until=now + timedelta(seconds=1), limit=10
            )
        async with db.session() as session:
            claimed = await session.get(WebhookDelivery, first.id)
            assert claimed is not None and claimed.claim_token == first.claim_token
            # The lease has a column of its own: the due index's column stays as it was.
            assert claimed.claimed_until == now + timedelta(seconds=1)
            assert claimed.next_attempt_at is not None and claimed.next_attempt_at <= now
        # Not due while leased; due again once the lease ran out (its worker died).
        async with db.transaction() as session:
            assert await repository.claim_due(session, now=now, lease_until=now, limit=10) == []
        later = now + timedelta(seconds=2)
        async with db.transaction() as session:
            (second,) = await repository.claim_due(
                session, now=later, lease_until=later + timedelta(minutes=1), limit=10
            )
        assert first.id == second.id and first.claim_token != second.claim_token
        refused_try = attempt_of(first.id, 500, 3)
        accepted_try = attempt_of(first.id, 200, 7)

        # Both claims posted. The second's accepted try lands first (its token holds), then
        # the first's refused try comes back: its outcome does not land, its try is recorded.
        delivered = outcome(first.id, second.claim_token, "delivered", accepted_try)
        stale = outcome(first.id, first.claim_token, "failed", refused_try)
        async with db.transaction() as session:
            await repository.record_outcomes(session, [delivered], [], [accepted_try])
        async with db.transaction() as session:
            await repository.record_outcomes(session, [stale], [refused_try])
        async with db.session() as session:
            row = await session.get(WebhookDelivery, first.id)
            assert row is not None
            assert row.status == "delivered" and row.last_status_code == 200
            rows = await repository.attempts_of(session, first.id)
        assert [a.status_code for a in rows] == [500]  # the accepted try is on the row
        history = history_of(row, rows)
        assert [(a.status_code, a.duration_ms) for a in history] == [(500, 3), (200, 7)]
    finally:
        await db.close()


def outcome(delivery_id: str, token: str, status: str, attempt: dict) -> dict:
    return {
        "id": delivery_id,
        "claim_token": token,
        "status": status,
        "attempts": 1,
        "last_attempted_at": attempt["attempted_at"],
        "last_status_code": attempt["status_code"],
        "last_error": attempt["error"],
        "last_duration_ms": attempt["duration_ms"],
        "next_attempt_at": None,
        "delivered_at": None,
    }


def attempt_of(delivery_id: str, status_code: int, duration_ms: int) -> dict:
    return {
        "delivery_id": delivery_id,
        "attempted_at": utcnow(),
        "status_code": status_code,
        "error": None if status_code == 200 else f"HTTP {status_code}",
        "duration_ms": duration_ms,
    }


async def test_every_try_is_on_record_once(database_url: str) -> None:
    """An accepted try whose outcome lands writes the delivery row alone; one whose outcome
    does not land (another claim's is on the row) gets its own row; writing the same outcomes
    again (a retried write) records no try twice."""
    db = Database(database_url)
    try:
        instance_id = await _instance(db)
        async with db.transaction() as session:
            await repository.insert_deliveries(session, _rows(instance_id, 2))
        now = utcnow()
        async with db.transaction() as session:
            one, two = await repository.claim_due(
                session, now=now, lease_until=now + timedelta(minutes=1), limit=10
            )
        tries = [attempt_of(one.id, 200, 5), attempt_of(two.id, 200, 6)]
        outcomes = [
            outcome(item.id, item.claim_token, "delivered", attempt)
            for item, attempt in zip((one, two), tries, strict=True)
        ]
        for _ in range(2):
            async with db.autocommit() as session:
                await repository.record_outcomes(session, outcomes, [], tries)
        async with db.session() as session:
            written = await session.scalar(select(func.count()).select_from(WebhookAttempt))
            row = await session.get(WebhookDelivery, one.id)
        assert written == 0 and row is not None
        assert row.last_attempted_at == tries[0]["attempted_at"]
        assert [(a.status_code, a.duration_ms) for a in history_of(row, [])] == [(200, 5)]

        # A late accepted try of an old claim of `two`: the row keeps the outcome it has.
        late = attempt_of(two.id, 200, 9)
        stale = outcome(two.id, "stale-token", "delivered", late)
        async with db.autocommit() as session:
            await repository.record_outcomes(session, [stale], [], [late])
        async with db.session() as session:
            row = await session.get(WebhookDelivery, two.id)
            rows = await repository.attempts_of(session, two.id)
        assert row is not None and row.last_duration_ms == 6
        assert [a.duration_ms for a in history_of(row, rows)] == [6, 9]
    finally:
        await db.close()


async def test_retention_cleanup(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path, webhook_retention_s=3600)
    db = Database(database_url)
    worker = DeliveryWorker(settings, db)
    try:
        instance_id = await _instance(db)
        old = utcnow() - timedelta(hours=2)
        rows = _rows(instance_id, 5)
        for row, status in zip(
            rows, ["delivered", "failed", "pending", "delivered", "failed"], strict=True
        ):
            row["status"] = status
        for row in rows[:3]:
            row["created_at"] = old
            row["id"] = repository.new_delivery_id(old)  # ids are time-ordered: the age
        async with db.transaction() as session:
            await repository.insert_deliveries(session, rows)
            session.add(
                WebhookAttempt(
                    delivery_id=rows[0]["id"], attempted_at=old, status_code=200, duration_ms=1
                )
            )
        assert await worker.cleanup() == 2
        async with db.session() as session:
            left = set((await session.execute(select(WebhookDelivery.id))).scalars())
            attempts = await session.scalar(select(func.count()).select_from(WebhookAttempt))
        assert left == {rows[2]["id"], rows[3]["id"], rows[4]["id"]}
        assert attempts == 0
    finally:
        await worker.sender.aclose()
        await db.close()
