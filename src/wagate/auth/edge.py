"""Authentication at the edge: every `/v1/` and `/mcp` request is authenticated from its
headers before anything reads its body, counts it against a rate or forwards it to another node.

Outermost of the app's middlewares. A request with no or a wrong token gets its 401 here,
answered without reading a byte of its body (and on a closed connection when one was
declared), so a large body costs an unauthenticated client nothing but its upload. The
principal goes into the request's state, where the routes (`current_principal`) and the
direct send path find it: no request is authenticated twice. Which instance a token may use
stays the routes' decision (403 / 404), as does everything outside `/v1/` and `/mcp`
(health, metrics, docs, the dashboard's page), which needs no token.

Failed authentications are counted per client address, in buckets of their own: each wrong
token costs a database lookup (only valid tokens are cached), so over the budget the address
gets 429 before the lookup. A token this node already knows (the admin's, or one in the
instance cache) is accepted from an address over its budget: it costs no lookup.
"""

from __future__ import annotations

from typing import Any

import structlog
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from wagate.auth.dependencies import AuthNode, Principal, known_principal, resolve_principal
from wagate.auth.tokens import token_from_headers
from wagate.errors import RateLimited, Unauthorized
from wagate.limits import TokenBuckets, declares_body, retry_after, send_error

log = structlog.get_logger(__name__)
FAILURES_KEY = "auth_failures"  # where a WebSocket's scope carries the edge's failure budget


class EdgeAuthMiddleware:
    def __init__(self, app: ASGIApp, failures: TokenBuckets | None) -> None:
        self.app = app
        self.failures = failures  # per client address; None: failures are not limited

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"].startswith("/v1/"):
            # A WebSocket's token may come in its first message, after the handshake: the
            # route authenticates it (`authenticate_socket`) with this edge's failure budget.
            scope.setdefault("state", {})[FAILURES_KEY] = self.failures
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http" or not _authenticated(scope["path"]):
            await self.app(scope, receive, send)
            return
        state: AuthNode | None = getattr(scope["app"].state, "wagate", None)
        if state is None:  # no lifespan ran (an app built by a test): the routes still check
            await self.app(scope, receive, send)
            return
        token = token_from_headers(scope["headers"])
        principal = known_principal(state, token) if token is not None else None
        if principal is None:
            principal = await self._authenticate(scope, send, state, token)
            if principal is None:
                return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)

    async def _authenticate(
        self, scope: Scope, send: Send, state: AuthNode, token: str | None
    ) -> Principal | None:
        """The principal, from the database; None when the request has been answered."""
        client = scope.get("client")
        address = f"addr:{client[0] if client else 'unknown'}"
        if self.failures is not None:
            wait = self.failures.wait(address)
            if wait > 0:
                await send_error(
                    send,
                    429,
                    "rate_limited",
                    "too many failed authentications from this address; slow down",
                    retry_after(wait),
                    close=declares_body(scope),
                )
                return None
        try:
            return await resolve_principal(state, token)
        except Unauthorized as exc:
            if self.failures is not None:
                self.failures.take(address)
            await send_error(send, 401, exc.code, exc.message, close=declares_body(scope))
            return None
        except Exception as exc:
            # The database unreachable and the like: the app's own handler answers (503 in
            # the API's error body), as it would have from the route's dependency.
            handler = _handler_for(scope["app"].exception_handlers, exc)
            if handler is None:
                raise
            response = await handler(Request(scope), exc)
            await response(scope, _no_body, send)
            return None


def _authenticated(path: str) -> bool:
    """The API, and the MCP server whose tools call it (wagate/mcp_server)."""
    return path.startswith("/v1/") or path == "/mcp"


async def authenticate_socket(scope: Scope, state: AuthNode, token: str | None) -> Principal:
    """The principal of a WebSocket's token (from its headers or its first message), by the
    edge's rules: a known token at once, a failure counted against the client's address, and
    over the address's budget RateLimited before any lookup. Raises Unauthorized."""
    failures: TokenBuckets | None = scope.get("state", {}).get(FAILURES_KEY)
    if token is not None:
        principal = known_principal(state, token)
        if principal is not None:
            return principal
    client = scope.get("client")
    address = f"addr:{client[0] if client else 'unknown'}"
    if failures is not None:
        wait = failures.wait(address)
        if wait > 0:
            raise RateLimited(
                "too many failed authentications from this address; slow down",
                headers=retry_after(wait),
            )
    try:
        return await resolve_principal(state, token)
    except Unauthorized:
        if failures is not None:
            failures.take(address)
        raise


async def _no_body() -> dict[str, Any]:
    return {"type": "http.disconnect"}


def _handler_for(handlers: dict[Any, Any], exc: Exception) -> Any:
    for cls in type(exc).__mro__:
        if cls in handlers:
            return handlers[cls]
    return None
