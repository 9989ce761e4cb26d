"""The MCP server at `/mcp` on a node (streamable HTTP), behind the API's tokens.

The edge authenticates `/mcp` as it does `/v1/` (auth/edge.py): a request without a valid
token never reaches the transport. Each tool then calls the node's own app in process with
the caller's token headers, so what the token may see and do is the API's decision.

Stateless: no MCP session is kept between requests, so any node of a cluster answers any
request, and a node keeps nothing for clients that went away.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from mcp.server.mcpserver import Context
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp, Receive, Scope, Send

from wagate.limits import send_error
from wagate.mcp_server.gateway import TIMEOUT, Gateway, token_headers
from wagate.mcp_server.tools import build_server

PATH = "/mcp"


class McpEndpoint:
    """The ASGI app of `/mcp`; it serves between `start` and `stop` (the node's lifespan)."""

    def __init__(self) -> None:
        self._manager: StreamableHTTPSessionManager | None = None
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def start(self, app: ASGIApp) -> None:
        # The transport's task group lives in a task of its own: anyio wants it left in the
        # task that entered it, and a lifespan may end in another task than it began.
        ready = asyncio.Event()
        self._task = asyncio.create_task(self._serve(app, ready), name="mcp-endpoint")
        waiting = asyncio.create_task(ready.wait())
        await asyncio.wait({self._task, waiting}, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        if self._task.done():
            self._task.result()  # its failure, raised here: the node does not start

    async def stop(self) -> None:
        self._manager = None
        self._stop.set()
        if self._task is not None:
            await self._task

    async def _serve(self, app: ASGIApp, ready: asyncio.Event) -> None:
        # The node's whole app, middlewares included: limits, forwarding to the holder node.
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://wagate", timeout=TIMEOUT
        )

        def gateway_of(ctx: Context[Any, Any]) -> Gateway:
            return Gateway(client, token_headers(ctx.headers))

        server = build_server(gateway_of)
        server.streamable_http_app(
            stateless_http=True,
            json_response=True,
            # A bearer token, never a cookie, opens it: a rebound DNS name gains a browser
            # nothing. The node's own address is whatever its operator serves it on.
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        manager = server.session_manager
        async with client, manager.run():
            self._manager = manager
            ready.set()
            await self._stop.wait()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        manager = self._manager
        if manager is None:
            await send_error(send, 503, "unavailable", "the node is starting or stopping")
            return
        await manager.handle_request(scope, receive, send)
