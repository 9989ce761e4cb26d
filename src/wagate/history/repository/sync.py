"""The phone's history sync's own query: what the phone says of a chat. Callers own the
transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from wagate.history.repository.store import CHATS


async def set_chat(session: Any, instance_id: int, jid: str, values: dict[str, Any]) -> None:
    await session.execute(
        update(CHATS).where(CHATS.c.instance_id == instance_id, CHATS.c.jid == jid).values(**values)
    )
