"""The MCP tools and resources: each one call of the public HTTP API (docs/api.md)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from pydantic import Field

from wagate import __version__
from wagate.engines.status import Status
from wagate.mcp_server.common import READ, GatewayOf, Instance, base, segment
from wagate.mcp_server.gateway import Gateway
from wagate.mcp_server.groups import group_tools
from wagate.mcp_server.sends import send_tools

INSTRUCTIONS = (
    "wagate is a WhatsApp gateway. Each instance is one linked WhatsApp number. Sends go "
    "through the instance's queue, in order and paced; a sync send (wait=true) answers with "
    "WhatsApp's message_id, an async one with a correlation_id to look up with get_message. "
    "Recipients and chats are phone numbers in international form or JIDs (…@g.us for groups)."
)

Chat = Annotated[str, Field(description="a phone number in international form or a JID")]
Limit = Annotated[int, Field(ge=1, le=500, description="how many at most")]
InstanceStatus = Annotated[Status, Field(description="only the instances in this status")]


def build_server(gateway_of: GatewayOf) -> MCPServer:
    """The MCP server; `gateway_of` gives the API as the caller of a request sees it."""
    server = MCPServer("wagate", version=__version__, instructions=INSTRUCTIONS)
    _instance_tools(server, gateway_of)
    send_tools(server, gateway_of)
    _message_tools(server, gateway_of)
    _history_tools(server, gateway_of)
    group_tools(server, gateway_of)
    _resources(server, gateway_of)
    return server


def _instance_tools(server: MCPServer, gateway_of: GatewayOf) -> None:
    @server.tool(annotations=READ)
    async def list_instances(
        ctx: Context[Any, Any],
        status: InstanceStatus | None = None,
        limit: Limit = 100,
        cursor: Annotated[str | None, Field(description="next_cursor of the last page")] = None,
    ) -> dict[str, Any]:
        """The instances this token may use (an instance token: its own) with their status,
        oldest first, a page at a time."""
        params = {"status": status, "limit": limit, "cursor": cursor}
        result: dict[str, Any] = await gateway_of(ctx).call("GET", "/v1/instances", params=params)
        return result

    @server.tool(annotations=READ)
    async def get_instance(instance: Instance, ctx: Context[Any, Any]) -> dict[str, Any]:
        """One instance: its status (connected, pairing, …), phone number, JID and settings."""
        result: dict[str, Any] = await gateway_of(ctx).call("GET", base(instance))
        return result

    @server.tool(annotations=READ)
    async def check_numbers(
        instance: Instance,
        phones: Annotated[list[str], Field(min_length=1, max_length=500)],
        ctx: Context[Any, Any],
    ) -> dict[str, Any]:
        """Which phone numbers are on WhatsApp, with their JIDs."""
        path = f"{base(instance)}/contacts/check"
        result: dict[str, Any] = await gateway_of(ctx).call("POST", path, json={"phones": phones})
        return result


def _message_tools(server: MCPServer, gateway_of: GatewayOf) -> None:
    @server.tool(annotations=READ)
    async def get_message(
        instance: Instance,
        correlation_id: Annotated[str, Field(description="the correlation_id of a send")],
        ctx: Context[Any, Any],
    ) -> dict[str, Any]:
        """The record of a send: its status (queued, sent, delivered, read, failed, …),
        WhatsApp's message_id, the error of a failed one."""
        path = f"{base(instance)}/messages/{segment(correlation_id)}"
        result: dict[str, Any] = await gateway_of(ctx).call("GET", path)
        return result


def _history_tools(server: MCPServer, gateway_of: GatewayOf) -> None:
    @server.tool(annotations=READ)
    async def list_chats(
        instance: Instance,
        ctx: Context[Any, Any],
        limit: Limit = 50,
        before: Annotated[str | None, Field(description="next_cursor of the last page")] = None,
    ) -> dict[str, Any]:
        """An instance's chats, most recent activity first, with their last message."""
        params = {"limit": limit, "before": before}
        result: dict[str, Any] = await gateway_of(ctx).call(
            "GET", f"{base(instance)}/chats", params=params
        )
        return result

    @server.tool(annotations=READ)
    async def read_chat(
        instance: Instance,
        chat: Chat,
        ctx: Context[Any, Any],
        limit: Limit = 50,
        before: Annotated[str | None, Field(description="page further back")] = None,
        after: Annotated[str | None, Field(description="the newer messages, oldest first")] = None,
    ) -> dict[str, Any]:
        """A chat's messages, both ways, newest first (or, with `after`, the ones since)."""
        params = {"limit": limit, "before": before, "after": after}
        path = f"{base(instance)}/chats/{segment(chat)}/messages"
        result: dict[str, Any] = await gateway_of(ctx).call("GET", path, params=params)
        return result

    @server.tool(annotations=READ)
    async def search_messages(
        instance: Instance,
        q: Annotated[str, Field(min_length=1, description="words, each matching as a prefix")],
        ctx: Context[Any, Any],
        chat: Annotated[str | None, Field(description="only this chat")] = None,
        limit: Limit = 50,
        before: Annotated[str | None, Field(description="next_cursor of the last page")] = None,
    ) -> dict[str, Any]:
        """Messages whose text or caption holds every word of `q`, newest first."""
        params = {"q": q, "chat": chat, "limit": limit, "before": before}
        path = f"{base(instance)}/messages/search"
        result: dict[str, Any] = await gateway_of(ctx).call("GET", path, params=params)
        return result


async def _resource(gateway: Gateway, path: str, params: dict[str, Any] | None = None) -> str:
    try:
        found = await gateway.call("GET", path, params=params)
    except ToolError as exc:  # the API's refusal, as a resource's anticipated failure
        raise ResourceError(str(exc)) from exc
    return json.dumps(found)


def _resources(server: MCPServer, gateway_of: GatewayOf) -> None:
    # A static resource gets no request context (the SDK's rule), so no caller's token: the
    # instances are the list_instances tool.
    @server.resource(
        "wagate://instances/{instance}/chats",
        name="chats",
        description="An instance's chats, most recent activity first (the first 100).",
        mime_type="application/json",
    )
    async def chats(instance: str, ctx: Context[Any, Any]) -> str:
        return await _resource(gateway_of(ctx), f"{base(instance)}/chats", {"limit": 100})
