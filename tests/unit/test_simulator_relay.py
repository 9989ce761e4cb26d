"""The simulator's group notices cross the database as JSON and come back as they were."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from wagate.db import Database, utcnow
from wagate.engines.base import (
    GroupParticipantsUpdate,
    GroupUpdate,
    InboundMedia,
    InboundMessage,
)
from wagate.engines.simulator.relay import (
    STALE_S,
    GroupEvent,
    NoticeRelay,
    decode,
    encode,
)
from wagate.models import Instance, SimulatorGroupNotice

GROUP = "120363000000000001@g.us"
WHO = "5511987654321@s.whatsapp.net"


@pytest.mark.parametrize(
    "event",
    [
        GroupUpdate(GROUP, WHO, {"subject": "s", "announce": True}, utcnow()),
        GroupUpdate(GROUP, None, {"picture": "removed"}, utcnow()),
        GroupParticipantsUpdate(GROUP, WHO, "added", [WHO, "12345@lid"], utcnow()),
        InboundMessage(
            "3EB0AA",
            GROUP,
            WHO,
            False,
            utcnow(),
            "image",
            caption="c",
            media=InboundMedia(b"\x89PNG\r\n\x1a\n\xff\x00", "image/png", None),
            mentions=(WHO,),
        ),
        InboundMessage("3EB0AB", GROUP, WHO, False, utcnow(), "text", text="hi", reply_to="X"),
    ],
)
def test_round_trip(event: GroupEvent) -> None:
    assert decode(json.loads(json.dumps(encode(event)))) == event


async def test_stale_notices_are_swept(sqlite_url: str) -> None:
    db = Database(sqlite_url)
    handed: list[tuple[int, GroupEvent]] = []
    relay = NoticeRelay(db, "node-a", lambda instance_id, e: handed.append((instance_id, e)))
    event = GroupUpdate(GROUP, WHO, {"subject": "s"}, utcnow())
    try:
        async with db.transaction() as session:
            session.add(Instance(name="a", engine="simulator", token_hash="h" * 64))
            await session.flush()
            old = utcnow() - timedelta(seconds=STALE_S + 1)
            for node, at in (("node-a", utcnow()), ("node-b", old), ("node-b", utcnow())):
                session.add(
                    SimulatorGroupNotice(
                        node=node, instance_id=1, event=encode(event), created_at=at
                    )
                )
        assert await relay.drain() == 1 and handed == [(1, event)]
        await relay.sweep()
        async with db.session() as session:
            left = (await session.execute(select(SimulatorGroupNotice.node))).scalars().all()
        assert left == ["node-b"]
    finally:
        await db.close()
