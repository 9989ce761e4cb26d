"""The group routes on the simulator (docs/api.md "Groups"), on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
from typing import Any

import httpx
from fastapi import FastAPI

from tests.conftest import create_instance, linked_instance
from tests.integration.instance_helpers import Recorder, assert_error, bad_fields, token_headers

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGNQvZwGAAJ/AV9X3CpyAAAAAElFTkSuQmCC"
)
OTHER = "5511912345678"
OTHER_JID = f"{OTHER}@s.whatsapp.net"


def groups(name: str) -> str:
    return f"/v1/instances/{name}/groups"


async def new_group(
    client: httpx.AsyncClient, name: str, *members: str, subject: str = "Team", token: str = ""
) -> dict[str, Any]:
    headers = token_headers(token) if token else None
    response = await client.post(
        groups(name), json={"subject": subject, "participants": list(members)}, headers=headers
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def roles(group: dict[str, Any]) -> dict[str, str]:
    return {p["phone"]: p["role"] for p in group["participants"]}


async def test_create_read_and_list_in_pages(client: httpx.AsyncClient) -> None:
    me = await linked_instance(client)
    name = me["name"]
    response = await client.post(
        groups(name),
        json={
            "subject": "Support team",
            "description": "who answers what",
            "participants": ["+55 11 91234-5678", "+5511900000000", "+5511999999999"],
        },
        headers=token_headers(me["token"]),
    )
    assert response.status_code == 201, response.text
    created = response.json()
    jid = created["jid"]
    assert jid.endswith("@g.us")
    assert created["subject"] == "Support team" and created["description"] == "who answers what"
    assert created["owner"] == me["jid"]
    assert roles(created) == {me["phone"]: "superadmin", OTHER: "member"}
    assert {p["jid"] for p in created["participants"]} == {me["jid"], OTHER_JID}
    assert created["failed"] == [
        {
            "jid": "5511900000000@s.whatsapp.net",
            "phone": "5511900000000",
            "ok": False,
            "error": "not_on_whatsapp",
            "invited": False,
        },
        {
            "jid": "5511999999999@s.whatsapp.net",
            "phone": "5511999999999",
            "ok": False,
            "error": "privacy",
            "invited": True,
        },
    ]
    for flag in ("announce", "locked", "join_approval"):
        assert created[flag] is False
    assert created["ephemeral_s"] == 0 and created["created_at"]

    got = (await client.get(f"{groups(name)}/{jid}")).json()
    assert {k: v for k, v in created.items() if k != "failed"} == got

    more = [(await new_group(client, name, OTHER, subject=f"g{i}"))["jid"] for i in range(3)]
    everything = sorted([jid, *more])
    page = (await client.get(groups(name), params={"limit": 3})).json()
    assert [g["jid"] for g in page["groups"]] == everything[:3]
    assert page["next_cursor"] == everything[2]
    rest = await client.get(groups(name), params={"limit": 3, "cursor": page["next_cursor"]})
    assert [g["jid"] for g in rest.json()["groups"]] == everything[3:]
    assert rest.json()["next_cursor"] is None
    whole = (await client.get(groups(name))).json()
    assert [g["jid"] for g in whole["groups"]] == everything and whole["next_cursor"] is None


async def test_bad_input_is_422_naming_the_field(client: httpx.AsyncClient) -> None:
    name = (await linked_instance(client))["name"]
    jid = (await new_group(client, name, OTHER))["jid"]
    post = client.post
    assert bad_fields(await post(groups(name), json={"subject": "", "participants": []})) == {
        "subject"
    }
    assert bad_fields(
        await post(groups(name), json={"subject": "x" * 101, "participants": []})
    ) == {"subject"}
    too_many = [f"+55119{n:08d}" for n in range(257)]
    assert bad_fields(
        await post(groups(name), json={"subject": "s", "participants": too_many})
    ) == {"participants"}
    long_text = {"subject": "s", "participants": [], "description": "d" * 2049}
    assert bad_fields(await post(groups(name), json=long_text)) == {"description"}
    assert bad_fields(
        await post(groups(name), json={"subject": "s", "participants": ["12ab"]})
    ) == {"participants.0"}
    long_one = {"subject": "s", "participants": [OTHER, "1" * 129]}
    assert bad_fields(await post(groups(name), json=long_one)) == {"participants.1"}
    for not_a_group in ("5511987654321@s.whatsapp.net", "5511987654321", "nonsense@g.es"):
        assert bad_fields(await client.get(f"{groups(name)}/{not_a_group}")) == {"group"}
        assert bad_fields(await post(f"{groups(name)}/{not_a_group}/leave")) == {"group"}
    patch = client.patch
    assert bad_fields(await patch(f"{groups(name)}/{jid}", json={})) == {"body"}
    assert bad_fields(await patch(f"{groups(name)}/{jid}", json={"subject": ""})) == {"subject"}
    assert bad_fields(await patch(f"{groups(name)}/{jid}", json={"ephemeral_s": 5})) == {
        "ephemeral_s"
    }
    assert bad_fields(await patch(f"{groups(name)}/{jid}", json={"colour": "red"})) == {"colour"}
    participants = f"{groups(name)}/{jid}/participants"
    assert bad_fields(await post(participants, json={"action": "add", "participants": []})) == {
        "participants"
    }
    assert bad_fields(
        await post(participants, json={"action": "ban", "participants": [OTHER]})
    ) == {"action"}
    assert bad_fields(
        await post(participants, json={"action": "add", "participants": too_many})
    ) == {"participants"}
    assert bad_fields(await client.get(groups(name), params={"cursor": "abc"})) == {"cursor"}
    assert bad_fields(await client.get(groups(name), params={"limit": 0})) == {"limit"}
    assert bad_fields(await client.get(f"{groups(name)}/invites/bad%20code")) == {"code"}
    picture = f"{groups(name)}/{jid}/picture"
    assert bad_fields(await client.put(picture, json={"base64": "%%%"})) == {"media.base64"}
    assert bad_fields(await client.put(picture, json={})) == {"body"}


async def test_unknown_group_not_connected_and_unknown_instance(client: httpx.AsyncClient) -> None:
    name = (await linked_instance(client))["name"]
    unknown = "120363000000000009@g.us"
    assert_error(await client.get(f"{groups(name)}/{unknown}"), 404, "group_not_found")
    assert_error(
        await client.patch(f"{groups(name)}/{unknown}", json={"subject": "x"}),
        404,
        "group_not_found",
    )
    assert_error(await client.post(f"{groups(name)}/{unknown}/leave"), 404, "group_not_found")
    assert_error(await client.get(f"{groups(name)}/invites/NoSuchCode"), 404, "invite_not_found")
    idle = (await create_instance(client))["name"]
    assert_error(await client.get(groups(idle)), 409, "instance_not_connected")
    assert_error(
        await client.post(groups(idle), json={"subject": "s", "participants": []}),
        409,
        "instance_not_connected",
    )
    assert_error(await client.get(f"{groups(idle)}/{unknown}"), 409, "instance_not_connected")
    assert_error(await client.get(groups("no-such-instance")), 404, "not_found")


async def test_permissions(client: httpx.AsyncClient) -> None:
    admin = await linked_instance(client)
    member = await linked_instance(client)
    a, m = admin["name"], member["name"]
    jid = (await new_group(client, a, member["phone"]))["jid"]
    group_of_a, group_of_m = f"{groups(a)}/{jid}", f"{groups(m)}/{jid}"

    # Anyone edits the info of an open group; settings and members are for admins.
    edited = await client.patch(group_of_m, json={"subject": "by a member"})
    assert edited.status_code == 200 and edited.json()["subject"] == "by a member"
    for change in ({"announce": True}, {"locked": True}, {"join_approval": True}):
        assert_error(await client.patch(group_of_m, json=change), 403, "not_group_admin")
    add = {"action": "add", "participants": [OTHER]}
    assert_error(await client.post(f"{group_of_m}/participants", json=add), 403, "not_group_admin")
    assert_error(await client.get(f"{group_of_m}/invite"), 403, "not_group_admin")
    assert_error(await client.get(f"{group_of_m}/requests"), 403, "not_group_admin")
    locked = await client.patch(group_of_a, json={"locked": True, "description": "rules"})
    assert locked.json()["locked"] is True and locked.json()["description"] == "rules"
    assert_error(await client.patch(group_of_m, json={"subject": "x"}), 403, "not_group_admin")
    png = {"base64": base64.b64encode(PNG).decode()}
    assert_error(await client.put(f"{group_of_m}/picture", json=png), 403, "not_group_admin")

    # Promoted, the member adds; nobody but the creator demotes or removes the creator.
    promote = {"action": "promote", "participants": [member["phone"]]}
    promoted = await client.post(f"{group_of_a}/participants", json=promote)
    assert promoted.json()["results"] == [
        {
            "jid": member["jid"],
            "phone": member["phone"],
            "ok": True,
            "error": None,
            "invited": False,
        }
    ]
    added = await client.post(f"{group_of_m}/participants", json=add)
    assert [(r["phone"], r["ok"]) for r in added.json()["results"]] == [(OTHER, True)]
    again = await client.post(f"{group_of_m}/participants", json=add)
    assert again.json()["results"][0]["error"] == "already_in_group"
    for action in ("demote", "remove"):
        body = {"action": action, "participants": [admin["phone"]]}
        results = (await client.post(f"{group_of_m}/participants", json=body)).json()["results"]
        assert results[0]["ok"] is False and results[0]["error"] == "not_allowed"
    stranger = {"action": "remove", "participants": ["+5511955554444"]}
    results = (await client.post(f"{group_of_m}/participants", json=stranger)).json()["results"]
    assert results[0]["error"] == "not_in_group"
    final = (await client.get(group_of_a)).json()
    assert roles(final) == {admin["phone"]: "superadmin", member["phone"]: "admin", OTHER: "member"}

    # Only admins send to an announce group.
    assert (await client.patch(group_of_a, json={"announce": True})).status_code == 200
    sent = await client.post(f"/v1/instances/{m}/send/text", json={"to": jid, "text": "ok"})
    assert sent.status_code == 200, sent.text
    demote = {"action": "demote", "participants": [member["phone"]]}
    assert (await client.post(f"{group_of_a}/participants", json=demote)).status_code == 200
    refused = await client.post(f"/v1/instances/{m}/send/text", json={"to": jid, "text": "no"})
    assert_error(refused, 403, "not_group_admin")
    assert_error(await client.patch(group_of_m, json={"announce": False}), 403, "not_group_admin")

    # Removed, the group is gone for them.
    remove = {"action": "remove", "participants": [member["phone"]]}
    assert (await client.post(f"{group_of_a}/participants", json=remove)).status_code == 200
    assert_error(await client.get(group_of_m), 404, "group_not_found")
    assert [g["jid"] for g in (await client.get(groups(m))).json()["groups"]] == []


async def test_events_in_order(client: httpx.AsyncClient, app: FastAPI) -> None:
    admin = await linked_instance(client)
    member = await linked_instance(client)
    a, m = admin["name"], member["name"]
    me = {"jid": admin["jid"], "phone": admin["phone"]}
    them = {"jid": member["jid"], "phone": member["phone"]}
    async with Recorder(app, m) as seen:
        jid = (await new_group(client, a, member["phone"]))["jid"]
        await client.patch(f"{groups(a)}/{jid}", json={"subject": "Renamed", "announce": True})
        await client.patch(f"{groups(a)}/{jid}", json={"subject": "Renamed"})  # no change
        promote = {"action": "promote", "participants": [member["phone"]]}
        await client.post(f"{groups(a)}/{jid}/participants", json=promote)
        await client.put(
            f"{groups(a)}/{jid}/picture", json={"base64": base64.b64encode(PNG).decode()}
        )
        await client.delete(f"{groups(a)}/{jid}/picture")
        await client.post(f"{groups(a)}/{jid}/invite/revoke")
        remove = {"action": "remove", "participants": [member["phone"]]}
        await client.post(f"{groups(a)}/{jid}/participants", json=remove)
        await seen.wait_for(
            lambda e: e.event == "group_participants" and e.data["action"] == "removed"
        )
    got = [(e.event, e.data) for e in seen.events if e.event.startswith("group_")]
    for _event, data in got:
        assert data.pop("timestamp")
        assert data.pop("group") == jid
        assert data.pop("actor") == me
    assert got == [
        ("group_participants", {"action": "added", "participants": [them]}),
        ("group_update", {"changes": {"subject": "Renamed", "announce": True}}),
        ("group_participants", {"action": "promoted", "participants": [them]}),
        ("group_update", {"changes": {"picture": "set"}}),
        ("group_update", {"changes": {"picture": "removed"}}),
        ("group_update", {"changes": {"invite": "reset"}}),
        ("group_participants", {"action": "removed", "participants": [them]}),
    ]


async def test_messages_in_a_group(client: httpx.AsyncClient, app: FastAPI) -> None:
    sender = await linked_instance(client)
    receiver = await linked_instance(client)
    jid = (await new_group(client, sender["name"], receiver["phone"], OTHER))["jid"]
    async with Recorder(app, receiver["name"]) as seen:
        sent = await client.post(
            f"/v1/instances/{sender['name']}/send/text",
            json={"to": jid, "text": "hello all", "mention_everyone": True},
        )
        assert sent.status_code == 200, sent.text
        received = await seen.wait_for(lambda e: e.event == "message_received")
    data = received.data
    assert data["chat"] == jid and data["group"] == jid
    assert data["from"] == sender["jid"]
    assert data["participant"] == {"jid": sender["jid"], "phone": sender["phone"]}
    assert data["text"] == "hello all"
    assert sorted(data["mentions"]) == sorted([receiver["jid"], OTHER_JID])
    outbox = (await client.get(f"/v1/instances/{sender['name']}/simulator/outbox")).json()
    assert outbox["messages"][-1]["to"] == jid
    assert sorted(outbox["messages"][-1]["body"]["mentions"]) == sorted(data["mentions"])

    one = await client.post(
        f"/v1/instances/{sender['name']}/send/text",
        json={"to": jid, "text": "hi @5511912345678", "mentions": [OTHER]},
    )
    assert one.status_code == 200, one.text
    outbox = (await client.get(f"/v1/instances/{sender['name']}/simulator/outbox")).json()
    assert outbox["messages"][-1]["body"]["mentions"] == [OTHER_JID]
    assert bad_fields(
        await client.post(
            f"/v1/instances/{sender['name']}/send/text",
            json={"to": OTHER, "text": "x", "mention_everyone": True},
        )
    ) == {"mention_everyone"}
    # A direct message has no group fields.
    async with Recorder(app, receiver["name"]) as seen:
        await client.post(
            f"/v1/instances/{receiver['name']}/simulator/inbound", json={"from": OTHER, "text": "x"}
        )
        # The second group message reaches the receiver on its own time: it may come first.
        direct = await seen.wait_for(
            lambda e: e.event == "message_received" and e.data["chat"] != jid
        )
    assert not {"group", "participant", "mentions"} & set(direct.data)
    # A group the sender is not in (any more).
    await client.post(f"{groups(receiver['name'])}/{jid}/leave")
    outsider = await client.post(
        f"/v1/instances/{receiver['name']}/send/text", json={"to": jid, "text": "x"}
    )
    assert_error(outsider, 404, "group_not_found")


async def test_picture_as_in_sends(client: httpx.AsyncClient) -> None:
    name = (await linked_instance(client))["name"]
    jid = (await new_group(client, name, OTHER))["jid"]
    picture = f"{groups(name)}/{jid}/picture"
    sent = await client.put(picture, json={"base64": base64.b64encode(PNG).decode()})
    assert sent.status_code == 204, sent.text
    uploaded = await client.put(picture, files={"file": ("p.png", PNG, "image/png")})
    assert uploaded.status_code == 204, uploaded.text
    assert bad_fields(await client.put(picture, files={"file": ("p.txt", b"text", "text/plain")}))
    assert bad_fields(await client.put(picture, files={"photo": ("p.png", PNG, "image/png")})) == {
        "photo"
    }
    assert (await client.delete(picture)).status_code == 204


async def test_invites_requests_and_leaving(client: httpx.AsyncClient, app: FastAPI) -> None:
    owner = await linked_instance(client)
    joiner = await linked_instance(client)
    late = await linked_instance(client)
    o, j, lt = owner["name"], joiner["name"], late["name"]
    jid = (await new_group(client, o, OTHER))["jid"]
    link = (await client.get(f"{groups(o)}/{jid}/invite")).json()
    assert link["url"] == f"https://chat.whatsapp.com/{link['code']}"
    assert (await client.get(f"{groups(o)}/{jid}/invite")).json() == link
    seen = (await client.get(f"{groups(j)}/invites/{link['code']}")).json()
    assert seen["jid"] == jid and seen["subject"] == "Team"
    assert_error(await client.get(f"{groups(j)}/{jid}"), 404, "group_not_found")
    joined = await client.post(f"{groups(j)}/invites/{link['code']}/join")
    assert joined.json() == {"group": jid}
    assert roles((await client.get(f"{groups(j)}/{jid}")).json())[joiner["phone"]] == "member"

    revoked = (await client.post(f"{groups(o)}/{jid}/invite/revoke")).json()
    assert revoked["code"] != link["code"]
    gone = await client.post(f"{groups(lt)}/invites/{link['code']}/join")
    assert_error(gone, 404, "invite_not_found")

    await client.patch(f"{groups(o)}/{jid}", json={"join_approval": True})
    async with Recorder(app, o) as told:
        asked = await client.post(f"{groups(lt)}/invites/{revoked['code']}/join")
        assert asked.json() == {"group": jid}
        request = await told.wait_for(lambda e: e.event == "group_participants")
    assert request.data["action"] == "join_requested"
    assert request.data["participants"] == [{"jid": late["jid"], "phone": late["phone"]}]
    assert_error(await client.get(f"{groups(lt)}/{jid}"), 404, "group_not_found")
    pending = (await client.get(f"{groups(o)}/{jid}/requests")).json()["requests"]
    assert [(r["jid"], r["phone"]) for r in pending] == [(late["jid"], late["phone"])]
    assert pending[0]["requested_at"]
    answer = {"action": "approve", "participants": [late["phone"], "+5511955554444"]}
    results = (await client.post(f"{groups(o)}/{jid}/requests", json=answer)).json()["results"]
    assert [(r["ok"], r["error"]) for r in results] == [(True, None), (False, "no_request")]
    assert (await client.get(f"{groups(o)}/{jid}/requests")).json() == {"requests": []}
    assert (await client.get(f"{groups(lt)}/{jid}")).status_code == 200

    async with Recorder(app, o) as told:
        assert (await client.post(f"{groups(lt)}/{jid}/leave")).status_code == 204
        left = await told.wait_for(lambda e: e.event == "group_participants")
    assert left.data["action"] == "left" and left.data["actor"]["jid"] == late["jid"]
    assert_error(await client.get(f"{groups(lt)}/{jid}"), 404, "group_not_found")
    assert_error(await client.post(f"{groups(lt)}/{jid}/leave"), 404, "group_not_found")

    # The last admin leaves: WhatsApp makes the longest member an admin.
    assert (await client.post(f"{groups(o)}/{jid}/leave")).status_code == 204
    after = (await client.get(f"{groups(j)}/{jid}")).json()
    assert roles(after) == {OTHER: "admin", joiner["phone"]: "member"}


async def test_an_empty_description_removes_it(client: httpx.AsyncClient) -> None:
    name = (await linked_instance(client))["name"]
    jid = (await new_group(client, name, OTHER))["jid"]
    group = f"{groups(name)}/{jid}"
    assert (await client.patch(group, json={"description": "rules"})).json()[
        "description"
    ] == "rules"
    assert (await client.patch(group, json={"description": ""})).json()["description"] is None
    assert (await client.patch(group, json={"description": ""})).json()["description"] is None
