"""The send routes, reached without FastAPI's router.

`POST /v1/instances/{instance}/send/{kind}` is the one route a busy gateway serves thousands of
times a second. Through FastAPI, matching the path against every included router and solving
the endpoint's dependencies (state, token, instance access, query, header) cost a quarter of
an async accept's CPU (about 130 of 530 µs, measured with `python -m bench.asgi_accept`).
This ASGI layer sits innermost among the app's middlewares (so authentication, rate limits,
body limits, forwarding and metrics apply as for any route), recognises exactly those requests
and runs the very same endpoint body (`routes._send`) with the principal the edge
authenticated; errors go through the app's own exception handlers, so every answer is the one
the routed endpoint gives. Anything it does not recognise, or whose query or headers FastAPI
would have to validate (an unknown query parameter, a bad `async` value, an over-long
Idempotency-Key), goes to the router untouched: it is read nowhere before.
"""

from __future__ import annotations

import re
from typing import Any, Protocol
from urllib.parse import parse_qsl

from fastapi.routing import APIRoute
from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from wagate.auth.dependencies import (
    AuthNode,
    bearer_token,
    check_instance_access,
    resolve_principal,
)
from wagate.messages.routes import IDEMPOTENCY_KEY_MAX, SendNode, _send
from wagate.messages.routes import router as send_router
from wagate.messages.schemas import KINDS


class DirectSendNode(AuthNode, SendNode, Protocol):
    """What the direct path uses of the node: the routes' authentication and send."""


_PATH = re.compile(r"^/v1/instances/([^/]+)/send/([^/]+)$")
_BOOL = TypeAdapter(bool)  # FastAPI's own parsing of a bool query value ("true", "1", "on"...)
_IDEMPOTENCY_HEADER = b"idempotency-key"


def _send_routes() -> dict[str, APIRoute]:
    """The routed endpoint of each kind: its template labels the request in the metrics."""
    routes = {}
    for route in send_router.routes:
        if isinstance(route, APIRoute) and route.name.startswith("send_"):
            routes[route.name.removeprefix("send_")] = route
    return {kind: routes[kind] for kind in KINDS}


def _async_flag(query_string: bytes) -> bool | None:
    """The `async` query value, or None when the query has anything FastAPI must judge."""
    if not query_string:
        return False
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    if len(pairs) != 1 or pairs[0][0] != "async":
        return None
    try:
        return _BOOL.validate_python(pairs[0][1])
    except ValidationError:
        return None


def _idempotency_key(headers: list[tuple[bytes, bytes]]) -> tuple[bool, str | None]:
    """(usable, key): a key of more than 255 characters, or two of them, go to the router."""
    found = [value for name, value in headers if name == _IDEMPOTENCY_HEADER]
    if not found:
        return True, None
    key = found[0].decode("latin-1")
    return len(found) == 1 and len(key) <= IDEMPOTENCY_KEY_MAX, key


class DirectSendMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.routes = _send_routes()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        match = _PATH.match(scope["path"])
        route = self.routes.get(match.group(2)) if match else None
        async_ = _async_flag(scope["query_string"]) if route is not None else None
        usable, idempotency_key = (
            _idempotency_key(scope["headers"]) if async_ is not None else (False, None)
        )
        if match is None or route is None or async_ is None or not usable:
            await self.app(scope, receive, send)
            return
        instance, kind = match.group(1), match.group(2)
        scope["route"] = route  # as the router sets it: the metrics label the request by it
        scope["path_params"] = {"instance": instance}
        request = Request(scope, receive, send)
        state: DirectSendNode = scope["app"].state.wagate
        try:
            # Authenticated at the edge (wagate.auth.edge) before the body; resolved here
            # only in an app run without it.
            principal = scope.get("state", {}).get("principal")
            if principal is None:
                principal = await resolve_principal(state, bearer_token(request))
            check_instance_access(principal, instance)
            response: Any = await _send(instance, kind, request, state, idempotency_key, async_)
        except Exception as exc:
            handler = _handler_for(scope["app"].exception_handlers, exc)
            if handler is None:
                raise
            response = await handler(request, exc)
        await response(scope, receive, send)


def _handler_for(handlers: dict[Any, Any], exc: Exception) -> Any:
    """The app's handler for this exception, looked up along its classes as Starlette's
    ExceptionMiddleware does. The catch-all (`Exception`) is not its: Starlette runs that one
    outermost, so an exception it would catch (the body limit's, say) first passes the
    middlewares between, as it does from a routed endpoint."""
    for cls in type(exc).__mro__:
        if cls is Exception:
            return None
        if cls in handlers:
            return handlers[cls]
    return None
