"""What every tool module shares: how a tool reaches the API, and the common arguments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from mcp.server.mcpserver import Context
from mcp.types import ToolAnnotations
from pydantic import Field

from wagate.mcp_server.gateway import Gateway, segment

__all__ = ["READ", "WRITE", "GatewayOf", "Instance", "base", "segment"]

# The API as the caller of one MCP request sees it (its token).
GatewayOf = Callable[[Context[Any, Any]], Gateway]

READ = ToolAnnotations(readOnlyHint=True, openWorldHint=False)
WRITE = ToolAnnotations(readOnlyHint=False, destructiveHint=False, openWorldHint=True)

Instance = Annotated[str, Field(description="the instance's name")]


def base(instance: str) -> str:
    return f"/v1/instances/{segment(instance)}"
