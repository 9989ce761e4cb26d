"""The Python client's group methods against a real node (simulator engine)."""

from __future__ import annotations

import asyncio

import pytest
from wagate_client import (
    AsyncWagateClient,
    Event,
    ForbiddenError,
    GroupNotFoundError,
    GroupParticipants,
    MessageReceived,
    NotFoundError,
    NotGroupAdminError,
    Party,
    ValidationError,
    WagateClient,
)

from tests.clients.conftest import Node
from tests.clients.test_python_client import PNG, linked

OTHER = "+5511912345678"


def test_groups_through_the_client(node: Node, admin_token: str) -> None:
    with WagateClient(node.url, admin_token) as admin:
        instance, token = linked(admin)
        second, _ = linked(admin)
    with WagateClient(node.url, token) as client:
        group = client.create_group(instance, "Club", [OTHER, "+5511900000000"])
        assert group.jid.endswith("@g.us") and group.subject == "Club"
        assert [(f.phone, f.error) for f in group.failed] == [("5511900000000", "not_on_whatsapp")]
        assert {p.phone: p.role for p in group.participants}["5511912345678"] == "member"
        page = client.list_groups(instance, limit=10)
        assert [g.jid for g in page.groups] == [group.jid] and page.next_cursor is None
        changed = client.update_group(instance, group.jid, subject="Club 2", locked=True)
        assert changed.subject == "Club 2" and changed.locked
        assert client.get_group(instance, group.jid).subject == "Club 2"
        client.set_group_picture(instance, group.jid, PNG)
        client.remove_group_picture(instance, group.jid)
        results = client.update_participants(instance, group.jid, "promote", [OTHER])
        assert [(r.phone, r.ok) for r in results] == [("5511912345678", True)]
        link = client.group_invite(instance, group.jid)
        assert link.url.endswith(link.code)
        assert client.group_invite(instance, group.jid, revoke=True).code != link.code
        assert client.join_requests(instance, group.jid) == []
        with pytest.raises(ValidationError):
            client.create_group(instance, "", [])
    with WagateClient(node.url, admin_token) as admin:
        code = admin.group_invite(instance, group.jid).code
        assert admin.invite_info(second, code).jid == group.jid
        assert admin.join_group(second, code) == group.jid
        with pytest.raises(ForbiddenError):
            admin.update_group(second, group.jid, subject="not allowed")
        assert admin.answer_join_requests(instance, group.jid, "approve", [OTHER])[0].ok is False
        played = admin.simulator_group(second, "Played", creator="+5511933332222")
        assert played.owner == "5511933332222@s.whatsapp.net"
        assert admin.simulator_group_change(second, played.jid, subject="P2").subject == "P2"
        promoted = admin.simulator_group_participants(
            second, played.jid, "promote", [admin.get_instance(second).phone or ""]
        )
        assert promoted[0].ok
        assert admin.simulator_group_message(second, played.jid, "+5511933332222", "hi")
        admin.leave_group(second, group.jid)
        with pytest.raises(NotFoundError):
            admin.get_group(second, group.jid)
        assert admin.simulator_group_join(second, code, "+5511977776666") == group.jid


async def test_groups_through_the_async_client_with_events(node: Node, admin_token: str) -> None:
    with WagateClient(node.url, admin_token) as admin:
        instance, token = linked(admin)
        phone = admin.get_instance(instance).phone or ""
    async with AsyncWagateClient(node.url, token) as client:
        async with client.events(instance) as stream:
            played = await client.simulator_group(instance, "Async", creator="+5511933332222")
            await client.simulator_group_message(instance, played.jid, "+5511933332222", "hey")
            seen: list[Event] = []
            async with asyncio.timeout(10):
                async for event in stream:
                    seen.append(event)
                    if isinstance(event.data, MessageReceived):
                        break
        added = next(e.data for e in seen if isinstance(e.data, GroupParticipants))
        assert added.action == "added" and added.group == played.jid
        assert added.participants == [Party(f"{phone}@s.whatsapp.net", phone)]
        message = seen[-1].data
        assert isinstance(message, MessageReceived)
        assert message.group == played.jid and message.text == "hey"
        assert message.participant == Party("5511933332222@s.whatsapp.net", "5511933332222")
        page = await client.list_groups(instance)
        assert [g.jid for g in page.groups] == [played.jid]
        with pytest.raises(NotGroupAdminError):
            await client.update_group(instance, played.jid, announce=True)
        await client.leave_group(instance, played.jid)
        with pytest.raises(GroupNotFoundError):
            await client.get_group(instance, played.jid)
