"""The group tools: each one call of the API's group routes (docs/api.md, "Groups")."""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import Context, MCPServer
from pydantic import Field

from wagate.engines.actions.groups import ParticipantAction, RequestAnswer
from wagate.groups.schemas import EphemeralTimer
from wagate.mcp_server.common import READ, WRITE, GatewayOf, Instance, base, segment

Group = Annotated[str, Field(description="the group's JID (…@g.us)")]
People = Annotated[
    list[str],
    Field(min_length=1, max_length=256, description="phone numbers in international form or JIDs"),
]


def group_tools(server: MCPServer, gateway_of: GatewayOf) -> None:
    _reading(server, gateway_of)
    _changing(server, gateway_of)


def _path(instance: str, group: str) -> str:
    return f"{base(instance)}/groups/{segment(group)}"


def _reading(server: MCPServer, gateway_of: GatewayOf) -> None:
    @server.tool(annotations=READ)
    async def list_groups(
        instance: Instance,
        ctx: Context[Any, Any],
        limit: Annotated[int, Field(ge=1, le=500)] = 100,
        cursor: Annotated[str | None, Field(description="next_cursor of the last page")] = None,
    ) -> dict[str, Any]:
        """The groups the instance is in, by JID."""
        params = {"limit": limit, "cursor": cursor}
        path = f"{base(instance)}/groups"
        result: dict[str, Any] = await gateway_of(ctx).call("GET", path, params=params)
        return result

    @server.tool(annotations=READ)
    async def get_group(instance: Instance, group: Group, ctx: Context[Any, Any]) -> dict[str, Any]:
        """One group: subject, description, settings, participants and their roles."""
        result: dict[str, Any] = await gateway_of(ctx).call("GET", _path(instance, group))
        return result

    @server.tool(annotations=READ)
    async def get_group_invite_link(
        instance: Instance, group: Group, ctx: Context[Any, Any]
    ) -> dict[str, Any]:
        """The group's invite link (the instance must be an admin of it)."""
        path = f"{_path(instance, group)}/invite"
        result: dict[str, Any] = await gateway_of(ctx).call("GET", path)
        return result


def _changing(server: MCPServer, gateway_of: GatewayOf) -> None:
    @server.tool(annotations=WRITE)
    async def create_group(
        instance: Instance,
        subject: Annotated[str, Field(min_length=1, max_length=100)],
        participants: People,
        ctx: Context[Any, Any],
        description: Annotated[str | None, Field(max_length=2048)] = None,
    ) -> dict[str, Any]:
        """Create a group with the instance as its owner; `failed` lists who could not be
        added (with `invited`: WhatsApp sent them an invite instead)."""
        body: dict[str, Any] = {"subject": subject, "participants": participants}
        if description is not None:
            body["description"] = description
        path = f"{base(instance)}/groups"
        result: dict[str, Any] = await gateway_of(ctx).call("POST", path, json=body)
        return result

    @server.tool(annotations=WRITE)
    async def update_group(
        instance: Instance,
        group: Group,
        ctx: Context[Any, Any],
        subject: Annotated[str | None, Field(min_length=1, max_length=100)] = None,
        description: Annotated[str | None, Field(description='"" removes it')] = None,
        announce: Annotated[bool | None, Field(description="only admins send")] = None,
        locked: Annotated[bool | None, Field(description="only admins edit the info")] = None,
        join_approval: Annotated[bool | None, Field(description="links need approval")] = None,
        ephemeral_s: Annotated[EphemeralTimer | None, Field(description="0: off")] = None,
    ) -> dict[str, Any]:
        """Change a group's subject, description or settings (only the ones given)."""
        changes = {
            "subject": subject,
            "description": description,
            "announce": announce,
            "locked": locked,
            "join_approval": join_approval,
            "ephemeral_s": ephemeral_s,
        }
        body = {name: value for name, value in changes.items() if value is not None}
        path = _path(instance, group)
        result: dict[str, Any] = await gateway_of(ctx).call("PATCH", path, json=body)
        return result

    @server.tool(annotations=WRITE)
    async def manage_group_participants(
        instance: Instance,
        group: Group,
        action: ParticipantAction,
        participants: People,
        ctx: Context[Any, Any],
    ) -> dict[str, Any]:
        """Add, remove, promote to admin or demote participants; one result each, in order."""
        body = {"action": action, "participants": participants}
        path = f"{_path(instance, group)}/participants"
        result: dict[str, Any] = await gateway_of(ctx).call("POST", path, json=body)
        return result

    @server.tool(annotations=WRITE)
    async def answer_group_requests(
        instance: Instance,
        group: Group,
        action: RequestAnswer,
        participants: People,
        ctx: Context[Any, Any],
    ) -> dict[str, Any]:
        """Approve or reject requests to join a group that needs approval."""
        body = {"action": action, "participants": participants}
        path = f"{_path(instance, group)}/requests"
        result: dict[str, Any] = await gateway_of(ctx).call("POST", path, json=body)
        return result
