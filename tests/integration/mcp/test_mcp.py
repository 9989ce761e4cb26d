"""The MCP server, driven by the SDK's own client: at /mcp on a node served over loopback,
and over stdio through a `wagate mcp` process talking to that node."""

from __future__ import annotations

import base64
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import httpx2
import pytest
from fastapi import FastAPI
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import ADMIN_TOKEN, admin_headers, create_instance, linked_instance, live_server
from tests.support.polling import eventually
from wagate.cli import main
from wagate.message_kinds import KINDS

TOOLS = {
    "list_groups",
    "get_group",
    "get_group_invite_link",
    "create_group",
    "update_group",
    "manage_group_participants",
    "answer_group_requests",
    "list_instances",
    "get_instance",
    "check_numbers",
    *(f"send_{kind}" for kind in KINDS),
    "get_message",
    "list_chats",
    "read_chat",
    "search_messages",
}
TO = "+5511987654321"
TO_JID = "5511987654321@s.whatsapp.net"


@asynccontextmanager
async def mcp_over_http(url: str, token: str) -> AsyncIterator[Client]:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
    async with http, Client(streamable_http_client(f"{url}/mcp", http_client=http)) as client:
        yield client


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    content: dict[str, Any] | None = result.structured_content
    assert content is not None
    return content


async def refusal(client: Client, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error
    text: str = result.content[0].text  # type: ignore[union-attr]
    return text


@pytest.fixture
async def node(app: FastAPI) -> AsyncIterator[str]:
    async with live_server(app) as url:
        yield url


async def outbox(client: httpx.AsyncClient, name: str) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/instances/{name}/simulator/outbox")
    messages: list[dict[str, Any]] = response.json()["messages"]
    return messages


async def test_tools_send_and_read_back(node: str, client: httpx.AsyncClient) -> None:
    shop = await linked_instance(client)
    name = shop["name"]
    async with mcp_over_http(node, ADMIN_TOKEN) as mcp:
        assert {tool.name for tool in (await mcp.list_tools()).tools} >= TOOLS
        listed = await call(mcp, "list_instances")
        assert name in {instance["name"] for instance in listed["instances"]}
        assert (await call(mcp, "get_instance", instance=name))["status"] == "connected"

        sent = await call(mcp, "send_text", instance=name, to=TO, text="hello from an agent")
        assert sent["status"] == "sent" and sent["message_id"]
        record = await call(
            mcp, "get_message", instance=name, correlation_id=sent["correlation_id"]
        )
        assert record["message_id"] == sent["message_id"]
        assert [m["body"].get("text") for m in await outbox(client, name)] == [
            "hello from an agent"
        ]

        async def in_history() -> dict[str, Any] | None:
            page = await call(mcp, "read_chat", instance=name, chat=TO)
            return page if page["messages"] else None

        page = await eventually(in_history, what="the send in the chat's history")
        assert page["messages"][0]["message_id"] == sent["message_id"]
        assert page["messages"][0]["text"] == "hello from an agent"
        chats = await call(mcp, "list_chats", instance=name)
        assert [chat["jid"] for chat in chats["chats"]] == [TO_JID]
        found = await call(mcp, "search_messages", instance=name, q="agen")
        assert [m["message_id"] for m in found["messages"]] == [sent["message_id"]]

        resource = await mcp.read_resource(f"wagate://instances/{name}/chats")
        assert json.loads(resource.contents[0].text)["chats"][0]["jid"] == TO_JID  # type: ignore[union-attr]


async def test_other_kinds_async_and_the_api_refusals(node: str, client: httpx.AsyncClient) -> None:
    name = (await linked_instance(client))["name"]
    async with mcp_over_http(node, ADMIN_TOKEN) as mcp:
        # One tool per kind, its arguments the kind's fields.
        tools = {tool.name: tool for tool in (await mcp.list_tools()).tools}
        poll = tools["send_poll"].input_schema
        assert set(poll["required"]) == {"instance", "to", "question", "options"}
        assert {"selectable_count", "reply_to", "mentions", "wait"} <= set(poll["properties"])
        queued = await call(
            mcp,
            "send_location",
            instance=name,
            to=TO,
            latitude=-23.55,
            longitude=-46.63,
            name="office",
            wait=False,
        )
        assert queued["status"] == "queued"

        async def sent() -> dict[str, Any] | None:
            record = await call(
                mcp, "get_message", instance=name, correlation_id=queued["correlation_id"]
            )
            return record if record["status"] in {"sent", "delivered", "read"} else None

        assert (await eventually(sent, what="the queued location sent"))["kind"] == "location"
        # What only the API checks comes back with its code and the field at fault.
        bad = await refusal(
            mcp, "send_poll", instance=name, to=TO, question="?", options=["a", "a"]
        )
        assert "422 validation_error" in bad and '"field": "options"' in bad
        # Media comes base64 in the call: /mcp takes bodies as large as the send routes do.
        document = os.urandom(1536 * 1024)
        media = {"base64": base64.b64encode(document).decode(), "mimetype": "application/pdf"}
        big = await call(
            mcp, "send_document", instance=name, to=TO, media=media, filename="report.pdf"
        )
        assert big["status"] == "sent"
        outbox_kinds = [m["kind"] for m in await outbox(client, name)]
        assert outbox_kinds == ["location", "document"]
        checked = await call(mcp, "check_numbers", instance=name, phones=[TO])
        assert checked["results"][0]["jid"] == TO_JID


async def test_an_instance_token_sees_only_its_instance(
    node: str, client: httpx.AsyncClient
) -> None:
    own = await linked_instance(client)
    other = await linked_instance(client)
    async with mcp_over_http(node, own["token"]) as mcp:
        listed = await call(mcp, "list_instances")
        assert [instance["name"] for instance in listed["instances"]] == [own["name"]]
        for tool, arguments in [
            ("get_instance", {}),
            ("list_chats", {}),
            ("send_text", {"to": TO, "text": "not mine"}),
            ("search_messages", {"q": "hello"}),
        ]:
            text = await refusal(mcp, tool, instance=other["name"], **arguments)
            assert "404 not_found" in text, (tool, text)
        with pytest.raises(Exception, match="404"):
            await mcp.read_resource(f"wagate://instances/{other['name']}/chats")
        templates = (await mcp.list_resource_templates()).resource_templates
        assert [t.uri_template for t in templates] == ["wagate://instances/{instance}/chats"]
    assert await outbox(client, other["name"]) == []


async def test_the_endpoint_wants_a_token(node: str) -> None:
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    async with httpx.AsyncClient(base_url=node) as http:
        for headers in [{}, {"Authorization": "Bearer wga_not_a_token_0123456789abcdefgh"}]:
            response = await http.post("/mcp", json=ping, headers=headers)
            assert response.status_code == 401
            assert response.json()["error"]["code"] == "unauthorized"
        answer = await http.post("/mcp", json=ping, headers=admin_headers())
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"jsonrpc": "2.0", "id": 1, "result": {}}
        # Stateless: no stream to open, no session to end.
        for method in ("GET", "DELETE"):
            response = await http.request(method, "/mcp", headers=admin_headers())
            assert response.status_code == 405
            assert response.json()["error"]["code"] == "method_not_allowed"


async def test_stdio_through_wagate_mcp(node: str, client: httpx.AsyncClient) -> None:
    shop = await create_instance(client)
    name = shop["name"]
    await linked_instance(client, name=None)  # another instance, which this token must not see
    assert (await client.post(f"/v1/instances/{name}/connect")).status_code == 202
    await client.post(f"/v1/instances/{name}/simulator/scan", json={})
    process = StdioServerParameters(
        command=sys.executable,
        args=["-m", "wagate", "mcp"],
        env={"WAGATE_MCP_URL": node, "WAGATE_MCP_TOKEN": shop["token"]},
    )
    async with Client(process) as mcp:
        assert {tool.name for tool in (await mcp.list_tools()).tools} >= TOOLS
        listed = await call(mcp, "list_instances")
        assert [instance["name"] for instance in listed["instances"]] == [name]

        async def connected() -> bool:
            return bool((await call(mcp, "get_instance", instance=name))["status"] == "connected")

        await eventually(connected, what="the instance connected")
        sent = await call(mcp, "send_text", instance=name, to=TO, text="over stdio")
        record = await call(
            mcp, "get_message", instance=name, correlation_id=sent["correlation_id"]
        )
        assert record["status"] in {"sent", "delivered", "read"}
    assert [m["body"].get("text") for m in await outbox(client, name)] == ["over stdio"]


async def test_groups(node: str, client: httpx.AsyncClient) -> None:
    me = await linked_instance(client)
    other = await linked_instance(client)
    name = me["name"]
    async with mcp_over_http(node, me["token"]) as mcp:
        created = await call(
            mcp,
            "create_group",
            instance=name,
            subject="Support team",
            participants=["+55 11 91234-5678", "+5511900000000"],
        )
        jid = created["jid"]
        assert jid.endswith("@g.us") and created["owner"] == me["jid"]
        assert [f["error"] for f in created["failed"]] == ["not_on_whatsapp"]
        listed = await call(mcp, "list_groups", instance=name)
        assert [group["jid"] for group in listed["groups"]] == [jid]
        changed = await call(mcp, "update_group", instance=name, group=jid, announce=True)
        assert changed["announce"] is True and changed["subject"] == "Support team"
        promoted = await call(
            mcp,
            "manage_group_participants",
            instance=name,
            group=jid,
            action="promote",
            participants=["+5511912345678"],
        )
        assert [result["ok"] for result in promoted["results"]] == [True]
        roles = {
            p["phone"]: p["role"]
            for p in (await call(mcp, "get_group", instance=name, group=jid))["participants"]
        }
        assert roles["5511912345678"] == "admin"
        assert (await call(mcp, "get_group_invite_link", instance=name, group=jid))["code"]
        sent = await call(mcp, "send_text", instance=name, to=jid, text="hello group")
        assert sent["status"] == "sent"
        text = await refusal(mcp, "get_group", instance=other["name"], group=jid)
        assert "404 not_found" in text
        refused = await refusal(
            mcp, "update_group", instance=name, group="not-a-group", subject="x"
        )
        assert "422" in refused and "group" in refused


def test_wagate_mcp_wants_a_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("WAGATE_MCP_TOKEN", raising=False)
    assert main(["mcp", "--url", "http://127.0.0.1:9"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "WAGATE_MCP_TOKEN" in captured.err
