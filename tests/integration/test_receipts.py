"""`advance_receipts`: receipts kept as times on the send records, on both databases: the
first time of each kind stays, a record not sent yet becomes sent, the status column is
otherwise left alone, and each record named is found whether it moved or not."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import insert

from tests.integration.test_bulk import _instance, rows_by_key
from wagate.db import Database, utcnow
from wagate.message_status import shown
from wagate.messages.recent import RecentSends
from wagate.messages.repository import MESSAGES, advance_receipts

STATUSES = {"m-sent": "sent", "m-sending": "sending", "m-failed": "failed", "m-read": "sent"}


async def _records(db: Database, instance_id: int, earlier: Any) -> None:
    now = utcnow()
    rows = [
        {
            "correlation_id": f"c-{mid}",
            "instance_id": instance_id,
            "kind": "text",
            "to": "1",
            "to_jid": "1@s.whatsapp.net",
            "body": {"text": mid},
            "status": status,
            "message_id": mid,
            "attempts": 1,
            "max_attempts": 3,
            "dead_lettered": False,
            "created_at": now,
            "updated_at": now,
            "read_at": earlier if mid == "m-read" else None,
        }
        for mid, status in STATUSES.items()
    ]
    async with db.transaction() as session:
        await session.execute(insert(MESSAGES), rows)


async def _stored(db: Database) -> dict[str, tuple[Any, ...]]:
    c = MESSAGES.c
    return await rows_by_key(db, c.message_id, c.status, c.delivered_at, c.read_at)


async def test_receipts_keep_their_first_times(database_url: str) -> None:
    db = Database(database_url)
    try:
        instance_id = await _instance(db)
        earlier = utcnow() - timedelta(hours=1)
        await _records(db, instance_id, earlier)
        at = utcnow().replace(microsecond=0)
        receipts = {
            (instance_id, "m-sent"): (at, None),
            (instance_id, "m-sending"): (at, at),
            (instance_id, "m-failed"): (None, at),
            (instance_id, "m-read"): (at, at + timedelta(seconds=1)),  # read already
            (instance_id, "m-unknown"): (at, None),  # sent from the phone: no record
            (instance_id + 1, "m-sent"): (at, None),  # another instance's id
        }
        async with db.autocommit() as connection:
            found = await advance_receipts(connection, receipts, utcnow())
        expected = {(instance_id, mid): f"c-{mid}" for mid in STATUSES}
        assert found == expected
        stored = await _stored(db)
        # A receipt proves the message reached WhatsApp: every record is sent now.
        assert {mid: row[0] for mid, row in stored.items()} == dict.fromkeys(STATUSES, "sent")
        shows = {mid: shown(*row) for mid, row in stored.items()}
        assert shows == {
            "m-sent": "delivered",
            "m-sending": "read",
            "m-failed": "read",
            "m-read": "read",
        }
        assert stored["m-read"][2].replace(tzinfo=None) == earlier.replace(tzinfo=None)

        c = MESSAGES.c
        written = await rows_by_key(db, c.message_id, c.updated_at)
        # Again, and a late delivered after the read: nothing moves, every record is found.
        later = at + timedelta(minutes=1)
        again = {(instance_id, mid): (later, later) for mid in STATUSES}
        async with db.autocommit() as connection:
            assert await advance_receipts(connection, again, utcnow()) == expected
            assert await advance_receipts(connection, {}, utcnow()) == {}
        after = await _stored(db)
        assert after["m-sent"][1] == stored["m-sent"][1]  # the first delivered stays
        assert after["m-sent"][2] is not None and after["m-read"][2] == stored["m-read"][2]
        # A receipt that moves nothing writes nothing (those with both times already).
        rewritten = await rows_by_key(db, c.message_id, c.updated_at)
        assert [mid for mid in STATUSES if rewritten[mid] != written[mid]] == ["m-sent", "m-failed"]
    finally:
        await db.close()


async def test_receipts_of_sends_recorded_here_are_written_by_their_key(database_url: str) -> None:
    """A record this node sent lately (`RecentSends`) gets its receipts' times by primary key,
    without a read: only the times it lacks, and nothing written when it has them all. A
    receipt for a record not known here is read and written as before."""
    db = Database(database_url)
    try:
        instance_id = await _instance(db)
        earlier = utcnow() - timedelta(hours=1)
        await _records(db, instance_id, earlier)
        pks = await rows_by_key(db, MESSAGES.c.message_id, MESSAGES.c.id)
        recent = RecentSends()
        # m-sent and m-read were recorded here; m-failed and m-sending were not.
        recent.add((instance_id, mid, pks[mid][0], f"c-{mid}") for mid in ("m-sent", "m-read"))
        at = utcnow().replace(microsecond=0)
        receipts = {
            (instance_id, "m-sent"): (at, None),
            (instance_id, "m-read"): (at, at),  # read already: the read time stays
            (instance_id, "m-failed"): (at, None),  # read back and moved to sent
        }
        async with db.autocommit() as connection:
            found = await advance_receipts(connection, receipts, utcnow(), recent)
        assert found == {key: f"c-{key[1]}" for key in receipts}
        stored = await _stored(db)
        assert stored["m-sent"][1:] == (at, None)
        assert stored["m-read"][1] == at
        assert stored["m-read"][2].replace(tzinfo=None) == earlier.replace(tzinfo=None)
        assert stored["m-failed"][0] == "sent" and stored["m-failed"][1] == at

        # A late delivered and a read: the first delivered stays, the read lands; a record
        # with both times already is not written.
        c = MESSAGES.c
        written = await rows_by_key(db, c.message_id, c.updated_at)
        later = at + timedelta(minutes=1)
        again = {(instance_id, "m-sent"): (later, later), (instance_id, "m-read"): (later, later)}
        async with db.autocommit() as connection:
            await advance_receipts(connection, again, utcnow(), recent)
        after = await _stored(db)
        assert after["m-sent"][1:] == (at, later)
        rewritten = await rows_by_key(db, c.message_id, c.updated_at)
        assert rewritten["m-read"] == written["m-read"]
    finally:
        await db.close()
