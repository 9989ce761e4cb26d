"""Rows written straight into a test database, for tests of one piece without the app: an
instance, and open messages of it (what the accept path would have stored)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update

from wagate.db import Database
from wagate.message_status import MessageStatus
from wagate.models import Instance, Message


async def add_instance(db: Database, name: str, engine: str = "simulator", **fields: Any) -> int:
    fields.setdefault("settings", {})
    async with db.transaction() as session:
        row = Instance(name=name, engine=engine, token_hash=uuid.uuid4().hex * 2, **fields)
        session.add(row)
        await session.flush()
        return int(row.id)


async def instance_id_of(db: Database, name: str) -> int | None:
    async with db.session() as session:
        found = await session.scalar(select(Instance.id).where(Instance.name == name))
    return None if found is None else int(found)


async def add_messages(
    db: Database,
    instance_id: int,
    count: int,
    to: str = "5511987654321",
    **fields: Any,
) -> list[int]:
    """`count` queued text messages to `to`; their ids, oldest first."""
    rows = [
        Message(
            correlation_id=uuid.uuid4().hex,
            instance_id=instance_id,
            kind="text",
            to=to,
            to_jid=f"{to}@s.whatsapp.net",
            body={"text": f"message {n}"},
            status=MessageStatus.QUEUED.value,
            **fields,
        )
        for n in range(count)
    ]
    async with db.transaction() as session:
        session.add_all(rows)
        await session.flush()
        return [int(row.id) for row in rows]


async def set_status(db: Database, pks: Sequence[int], status: MessageStatus) -> None:
    async with db.transaction() as session:
        await session.execute(
            update(Message).where(Message.id.in_(list(pks))).values(status=status.value)
        )


async def messages(db: Database, pks: Sequence[int]) -> list[Message]:
    """The rows of `pks`, in that order."""
    async with db.session() as session:
        found = (await session.execute(select(Message).where(Message.id.in_(list(pks))))).scalars()
        by_pk = {row.id: row for row in found}
    return [by_pk[pk] for pk in pks]
