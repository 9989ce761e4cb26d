"""The simulator's group controls: a test plays the instance's fellow participants."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.conftest import create_instance, linked_instance
from tests.integration.instance_helpers import Recorder, assert_error, bad_fields, token_headers

BOSS = "5511933332222"
BOSS_JID = f"{BOSS}@s.whatsapp.net"
PEER = "5511944445555"


def controls(name: str) -> str:
    return f"/v1/instances/{name}/simulator/groups"


async def test_members_act_on_the_instance(client: httpx.AsyncClient, app: FastAPI) -> None:
    me = await linked_instance(client)
    name = me["name"]
    mine = {"jid": me["jid"], "phone": me["phone"]}
    boss = {"jid": BOSS_JID, "phone": BOSS}
    async with Recorder(app, name) as seen:
        response = await client.post(
            controls(name),
            json={"subject": "Club", "creator": BOSS, "members": [PEER]},
            headers=token_headers(me["token"]),
        )
        assert response.status_code == 201, response.text
        group = response.json()
        jid = group["jid"]
        assert group["owner"] == BOSS_JID
        assert {p["phone"]: p["role"] for p in group["participants"]} == {
            BOSS: "superadmin",
            PEER: "member",
            me["phone"]: "member",
        }
        promote = {"action": "promote", "participants": [me["phone"]]}
        promoted = await client.post(f"{controls(name)}/{jid}/participants", json=promote)
        assert promoted.json()["results"][0]["ok"] is True
        renamed = await client.patch(f"{controls(name)}/{jid}", json={"subject": "Club 2"})
        assert renamed.json()["subject"] == "Club 2"
        posted = await client.post(
            f"{controls(name)}/{jid}/messages",
            json={"from": PEER, "text": "hi @me", "mentions": [me["phone"]]},
        )
        assert posted.status_code == 200, posted.text
        demote = {"action": "demote", "participants": [me["phone"]]}
        await client.post(f"{controls(name)}/{jid}/participants", json=demote)
        remove = {"action": "remove", "participants": [me["phone"]]}
        await client.post(f"{controls(name)}/{jid}/participants", json=remove)
        await seen.wait_for(
            lambda e: e.event == "group_participants" and e.data["action"] == "removed"
        )
    events = [(e.event, e.data) for e in seen.events if e.event != "message_status"]
    assert [(event, data.get("action") or data.get("changes")) for event, data in events] == [
        ("group_participants", "added"),
        ("group_participants", "promoted"),
        ("group_update", {"subject": "Club 2"}),
        ("message_received", None),
        ("group_participants", "demoted"),
        ("group_participants", "removed"),
    ]
    assert events[0][1]["participants"] == [{"jid": f"{PEER}@s.whatsapp.net", "phone": PEER}, mine]
    assert all(data.get("actor", boss) == boss for _, data in events)
    message = events[3][1]
    assert message["group"] == jid and message["chat"] == jid
    assert message["participant"] == {"jid": f"{PEER}@s.whatsapp.net", "phone": PEER}
    assert message["text"] == "hi @me" and message["mentions"] == [me["jid"]]
    assert_error(await client.get(f"/v1/instances/{name}/groups/{jid}"), 404, "group_not_found")


async def test_the_rules_hold_for_the_other_members(client: httpx.AsyncClient) -> None:
    me = await linked_instance(client)
    name = me["name"]
    response = await client.post(
        controls(name),
        json={"subject": "Club", "creator": BOSS, "members": [PEER], "role": "admin"},
    )
    jid = response.json()["jid"]
    assert {p["phone"]: p["role"] for p in response.json()["participants"]}[me["phone"]] == "admin"
    # A plain member cannot add, and cannot post once only admins send.
    add = {"by": PEER, "action": "add", "participants": ["+5511966667777"]}
    refused = await client.post(f"{controls(name)}/{jid}/participants", json=add)
    assert_error(refused, 403, "not_group_admin")
    await client.patch(f"/v1/instances/{name}/groups/{jid}", json={"announce": True})
    post = {"from": PEER, "text": "x"}
    assert_error(
        await client.post(f"{controls(name)}/{jid}/messages", json=post), 403, "not_group_admin"
    )
    stranger = {"from": "+5511966667777", "text": "x"}
    assert_error(
        await client.post(f"{controls(name)}/{jid}/messages", json=stranger), 404, "group_not_found"
    )
    # Someone follows the link of a group that needs approval: the instance (admin) decides.
    await client.patch(f"/v1/instances/{name}/groups/{jid}", json={"join_approval": True})
    code = (await client.get(f"/v1/instances/{name}/groups/{jid}/invite")).json()["code"]
    asked = await client.post(
        f"{controls(name)}/invites/{code}/join", json={"from": "+5511966667777"}
    )
    assert asked.json() == {"group": jid}
    pending = (await client.get(f"/v1/instances/{name}/groups/{jid}/requests")).json()
    assert [r["phone"] for r in pending["requests"]] == ["5511966667777"]
    reject = {"action": "reject", "participants": ["+5511966667777"]}
    answered = await client.post(f"/v1/instances/{name}/groups/{jid}/requests", json=reject)
    assert answered.json()["results"][0]["ok"] is True
    group = (await client.get(f"/v1/instances/{name}/groups/{jid}")).json()
    assert "5511966667777" not in {p["phone"] for p in group["participants"]}


async def test_bad_input_and_other_states(client: httpx.AsyncClient) -> None:
    me = await linked_instance(client)
    name = me["name"]
    assert bad_fields(await client.post(controls(name), json={"subject": ""})) == {"subject"}
    assert bad_fields(
        await client.post(controls(name), json={"subject": "s", "creator": "12ab"})
    ) == {"creator"}
    assert bad_fields(
        await client.post(
            f"{controls(name)}/5511987654321/messages", json={"from": PEER, "text": "x"}
        )
    ) == {"group"}
    assert bad_fields(
        await client.post(controls(name), json={"subject": "s", "members": ["+1", "x"]})
    ) == {"members.0"}
    idle = (await create_instance(client))["name"]
    assert_error(
        await client.post(controls(idle), json={"subject": "s"}), 409, "instance_not_connected"
    )
    other = await client.post("/v1/instances", json={"name": "wm-groups", "engine": "whatsmeow"})
    if other.status_code == 201:
        assert_error(
            await client.post(controls("wm-groups"), json={"subject": "s"}), 404, "not_found"
        )
