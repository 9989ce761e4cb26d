"""The MCP tools and resources: each one call of the public HTTP API (docs/api.md)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from pydantic import Field

from wagate import __version__
from wagate.mcp_server.common import READ, WRITE, GatewayOf, Instance, base, segment
from wagate.mcp_server.gateway import Gateway
from wagate.mcp_server.groups import group_tools
from wagate.message_kinds import KINDS
from wagate.messages.schemas import BODY_MODELS, SendBase

INSTRUCTIONS = (
    "wagate is a WhatsApp gateway. Each instance is one linked WhatsApp number. Sends go "
    "through the instance's queue, in order and paced; a sync send (wait=true) answers with "
    "WhatsApp's message_id, an async one with a correlation_id to look up with get_message. "
    "Recipients and chats are phone numbers in international form or JIDs (…@g.us for groups)."
)

Chat = Annotated[str, Field(description="a phone number in international form or a JID")]
Limit = Annotated[int, Field(ge=1, le=500, description="how many at most")]
Wait = Annotated[
    bool,
    Field(description="true: answer once WhatsApp took the message; false: answer when queued"),
]
Idempotency = Annotated[
    str | None,
    Field(
        max_length=255,
        description="the same key on the same instance within 24 h sends nothing again",
    ),
]


def kind_fields() -> str:
    """Each kind's fields besides `to`, from the send models (a required one marked `*`)."""
    common = set(SendBase.model_fields)
    lines = []
    for kind, model in BODY_MODELS.items():
        fields = [
            f"{name}*" if info.is_required() else name
            for name, info in model.model_fields.items()
            if name not in common
        ]
        lines.append(f"- {kind}: {', '.join(fields)}")
    return "\n".join(lines)


SEND_DESCRIPTION = f"""Send a message of any kind from an instance.

`fields` holds the kind's fields besides `to` (`*`: required):
{kind_fields()}
Every kind also takes reply_to (a message_id to quote) and mentions (phone numbers).
media is {{"url": "https://…"}} or {{"base64": "…", "mimetype": "…"}}; a contact's contacts
are [{{"name", "phone"}}]; a poll's options are 2 to 12 strings."""


def build_server(gateway_of: GatewayOf) -> MCPServer:
    """The MCP server; `gateway_of` gives the API as the caller of a request sees it."""
    server = MCPServer("wagate", version=__version__, instructions=INSTRUCTIONS)
    _instance_tools(server, gateway_of)
    _send_tools(server, gateway_of)
    _history_tools(server, gateway_of)
    group_tools(server, gateway_of)
    _resources(server, gateway_of)
    return server


def _instance_tools(server: MCPServer, gateway_of: GatewayOf) -> None:
    @server.tool(annotations=READ)
    async def list_instances(ctx: Context[Any, Any]) -> dict[str, Any]:
        """The instances this token may use (an instance token: its own) with their status."""
        result: dict[str, Any] = await gateway_of(ctx).call("GET", "/v1/instances")
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


async def _send(
    gateway: Gateway,
    instance: str,
    kind: str,
    body: dict[str, Any],
    wait: bool,
    idempotency_key: str | None,
) -> dict[str, Any]:
    headers = {"idempotency-key": idempotency_key} if idempotency_key else None
    result: dict[str, Any] = await gateway.call(
        "POST",
        f"{base(instance)}/send/{segment(kind)}",
        json=body,
        params={"async": not wait},
        headers=headers,
    )
    return result


def _send_tools(server: MCPServer, gateway_of: GatewayOf) -> None:
    @server.tool(annotations=WRITE)
    async def send_text(
        instance: Instance,
        to: Chat,
        text: Annotated[str, Field(min_length=1, max_length=65536)],
        ctx: Context[Any, Any],
        reply_to: Annotated[str | None, Field(description="a message_id to quote")] = None,
        wait: Wait = True,
        idempotency_key: Idempotency = None,
    ) -> dict[str, Any]:
        """Send a text message from an instance."""
        body: dict[str, Any] = {"to": to, "text": text}
        if reply_to is not None:
            body["reply_to"] = reply_to
        return await _send(gateway_of(ctx), instance, "text", body, wait, idempotency_key)

    @server.tool(annotations=WRITE, description=SEND_DESCRIPTION)
    async def send_message(
        instance: Instance,
        kind: Annotated[str, Field(json_schema_extra={"enum": list(KINDS)})],
        to: Chat,
        fields: dict[str, Any],
        ctx: Context[Any, Any],
        wait: Wait = True,
        idempotency_key: Idempotency = None,
    ) -> dict[str, Any]:
        body = {**fields, "to": to}
        return await _send(gateway_of(ctx), instance, kind, body, wait, idempotency_key)

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
