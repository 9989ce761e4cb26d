"""`wagate mcp`: the MCP server over stdio, for an agent that starts it as a subprocess.

It holds no node of its own: every tool calls a running node's HTTP API with the token it
was given, so that node's queue, pacing and send policy apply, and the token's scope.
"""

from __future__ import annotations

from typing import Any

import httpx
from mcp.server.mcpserver import Context

from wagate.mcp_server.gateway import TIMEOUT, Gateway, bearer
from wagate.mcp_server.tools import build_server

URL_VARIABLE = "WAGATE_MCP_URL"
TOKEN_VARIABLE = "WAGATE_MCP_TOKEN"  # noqa: S105 (the variable's name, not a token)


async def serve_stdio(url: str, token: str) -> None:
    async with httpx.AsyncClient(base_url=url.rstrip("/"), timeout=TIMEOUT) as client:
        gateway = Gateway(client, bearer(token))

        def gateway_of(ctx: Context[Any, Any]) -> Gateway:
            return gateway

        await build_server(gateway_of).run_stdio_async()
