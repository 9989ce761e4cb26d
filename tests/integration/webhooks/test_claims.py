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

        def outcome(token: str, status: str, code: int) -> dict:
            return {
                "id": first.id,
                "claim_token": token,
                "status": status,
                "attempts": 1,
                "last_status_code": code,
                "last_error": None,
                "next_attempt_at": None,
                "delivered_at": None,
            }

        attempt = {
            "delivery_id": first.id,
            "attempted_at": now,
            "status_code": 500,
            "error": "HTTP 500",
            "duration_ms": 3,
        }
        async with db.transaction() as session:
            await repository.record_outcomes(
                session, [outcome(second.claim_token, "delivered", 200)], [attempt]
            )
        async with db.transaction() as session:
            await repository.record_outcomes(
                session, [outcome(first.claim_token, "failed", 500)], [attempt]
            )
        async with db.session() as session:
            row = await session.get(WebhookDelivery, first.id)
            assert row is not None
            assert row.status == "delivered" and row.last_status_code == 200
            tries = await session.scalar(select(func.count()).select_from(WebhookAttempt))
            assert tries == 2  # both tries happened and are on record
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
