"""The simulator's group notices cross the database as JSON and come back as they were."""

from __future__ import annotations

import json

import pytest

from wagate.db import utcnow
from wagate.engines.base import (
    GroupParticipantsUpdate,
    GroupUpdate,
    InboundMedia,
    InboundMessage,
)
from wagate.engines.simulator.relay import GroupEvent, decode, encode

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
