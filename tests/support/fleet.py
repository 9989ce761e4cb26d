"""Many linked simulator instances at once, written straight to the database: what linking
each one through the API and stopping the node leaves behind (its row, disconnected and
wanted connected, and its simulated device), so
the next `wagate serve` resumes them all. Linking 10,000 over HTTP would take longer than what
the tests and the benchmark then measure."""

from __future__ import annotations

import asyncio
import secrets

from sqlalchemy import insert, text

from wagate.auth.tokens import hash_token
from wagate.db import Database, utcnow
from wagate.migrate import upgrade_to_head
from wagate.models import Instance, SimulatorDevice

CHUNK = 1000


def name_of(prefix: str, number: int) -> str:
    return f"{prefix}{number}"


async def seed_linked(database_url: str, count: int, prefix: str = "f") -> None:
    """Migrate the (empty) database and write `count` linked simulator instances, named
    prefix0…prefixN-1, with ids 1…N."""
    # Blocking, with an event loop of its own: in a thread.
    await asyncio.to_thread(upgrade_to_head, database_url)
    db = Database(database_url)
    now = utcnow()
    try:
        for start in range(0, count, CHUNK):
            numbers = range(start, min(count, start + CHUNK))
            phones = {n: f"55119{n:08d}" for n in numbers}
            instances = [
                {
                    "id": n + 1,
                    "name": name_of(prefix, n),
                    "engine": "simulator",
                    "token_hash": hash_token(f"wga_{secrets.token_hex(16)}"),
                    # As a node's stop leaves them: disconnected, wanted connected.
                    "status": "disconnected",
                    "desired_state": "connected",
                    "jid": f"{phones[n]}@s.whatsapp.net",
                    "device_jid": f"{phones[n]}:{n + 1}@s.whatsapp.net",
                    "phone": phones[n],
                    "settings": {},
                    "created_at": now,
                    "updated_at": now,
                }
                for n in numbers
            ]
            devices = [
                {
                    "instance_id": n + 1,
                    "jid": f"{phones[n]}@s.whatsapp.net",
                    "phone": phones[n],
                    "linked_at": now,
                }
                for n in numbers
            ]
            async with db.transaction() as session:
                await session.execute(insert(Instance), instances)
                await session.execute(insert(SimulatorDevice), devices)
        if not db.is_sqlite:  # the ids were given: the sequence goes on after them
            async with db.transaction() as session:
                await session.execute(
                    text("SELECT setval(pg_get_serial_sequence('instances', 'id'), :n)"),
                    {"n": max(count, 1)},
                )
    finally:
        await db.close()
