"""Lifecycle calls reach the node that holds the instance, over HTTP.

Any node's API accepts any instance's requests. Sends go through the queue to the holder's
worker; the routes marked `@on_holder` (wagate.holder: lifecycle calls, engine actions,
simulator controls) act on the live client itself, so they must run on its node. An ASGI
middleware looks up the holder (the lease in Redis) and, when it is another node, replays the
request to that node's internal address (`nodes.address`) and passes its answer back. A request
for an instance nobody holds runs here when this node takes instances (the manager takes the
lease first); an API-only node sends it to the live node that holds the fewest.

Why HTTP rather than a request/reply over Redis: the holder runs the very same route (auth,
validation, error mapping) as for a direct call, errors come back in the API.md shape, and no
second protocol has to be kept in step with the routes. The forwarded request carries
`X-Wagate-Forwarded-By`, and a forwarded request is always handled where it lands: no loops.
Only authenticated requests get here (wagate.auth.edge runs first): a request with a wrong
token is refused by the node it reached, and neither read nor forwarded.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Protocol

import httpx
import orjson
import structlog
from starlette.types import ASGIApp, Receive, Scope, Send

from wagate.cluster import repository
from wagate.errors import error_body
from wagate.holder import HolderTable, holder_routes
from wagate.node import HasDb, HasInstances

from .runtime import ClusterNode
from .service import HasCluster

log = structlog.get_logger(__name__)

FORWARDED_HEADER = "x-wagate-forwarded-by"
_HOP_HEADERS = {"host", "content-length", "connection", "transfer-encoding", "keep-alive"}


class ForwardingNode(HasCluster, HasDb, HasInstances, Protocol):
    """What forwarding uses of the node: who holds the instance, its row, and the cached copy
    to forget when the holder changed it."""


def forwarded_instance(table: HolderTable, method: str, path: str) -> str | None:
    """The instance a request names when it must run on the instance's holder."""
    for _, pattern in table.candidates(method, path):
        match = pattern.match(path)
        if match:
            return match.group("instance")
    return None


class ForwardingMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # The routes marked @on_holder (wagate.holder), read from the app on first use.
        self.table: HolderTable | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.table is None:
            self.table = holder_routes(scope["app"].routes)
        name = forwarded_instance(self.table, scope["method"], scope["path"])
        if name is None:  # most requests (every send): nothing to decide
            await self.app(scope, receive, send)
            return
        state: ForwardingNode | None = getattr(scope["app"].state, "wagate", None)
        cluster = state.cluster if state is not None else None
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if state is None or not isinstance(cluster, ClusterNode) or FORWARDED_HEADER in headers:
            await self.app(scope, receive, send)
            return
        try:
            target = await _target(state, cluster, name)
        except Exception as exc:
            # The detail (addresses, node names, Redis or database errors) is for the log,
            # not for a client.
            log.warning("cluster lookup failed", instance=name, error=repr(exc))
            await _answer(
                send, 503, error_body("unavailable", "the cluster cannot be reached; retry later")
            )
            return
        if target is None:
            await self.app(scope, receive, send)
            return
        await _forward(scope, receive, send, target, headers, cluster)
        if scope["method"] in ("DELETE", "PATCH"):
            # The holder changed or deleted the instance: this node forgets its copy now too.
            state.instances.invalidate(name)


async def _forward(
    scope: Scope,
    receive: Receive,
    send: Send,
    target: str,
    headers: dict[str, str],
    cluster: ClusterNode,
) -> None:
    body = bytearray()
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    out = {k: v for k, v in headers.items() if k not in _HOP_HEADERS}
    out[FORWARDED_HEADER] = cluster.node_id
    query = scope.get("query_string", b"").decode("latin-1")
    url = target + scope["path"] + (f"?{query}" if query else "")
    try:
        response = await cluster.http.request(
            scope["method"], url, headers=out, content=bytes(body)
        )
    except httpx.HTTPError as exc:
        log.warning("forwarding failed", url=url, error=repr(exc))
        await _answer(
            send, 503, error_body("unavailable", "the node holding the instance did not answer")
        )
        return
    keep = [
        (k.encode("latin-1"), v.encode("latin-1"))
        for k, v in response.headers.items()
        if k.lower() not in _HOP_HEADERS and k.lower() != "content-encoding"
    ]
    keep.append((b"content-length", str(len(response.content)).encode()))
    await send({"type": "http.response.start", "status": response.status_code, "headers": keep})
    await send({"type": "http.response.body", "body": response.content})


async def _answer(send: Send, status: int, body: dict[str, Any]) -> None:
    raw = orjson.dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(raw)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": raw})


async def _target(state: HasDb, cluster: ClusterNode, name: str) -> str | None:
    """The base URL of the node to forward to; None: handle the request here."""
    async with state.db.session() as session:
        instance_id = await repository.instance_id(session, name)
    if instance_id is None:
        return None  # the route answers 404
    holder = await cluster.store.holder(instance_id)
    if holder is not None:
        if holder.node == cluster.node_id:
            return None
        return await _address(cluster, holder.node)
    if cluster.holds_instances:
        return None
    return await _least_loaded(cluster)


async def _address(cluster: ClusterNode, node: str) -> str:
    for view in await cluster.registry.nodes():
        if view.id == node and view.address:
            return view.address
    raise LookupError(f"node '{node}' has no known address")


async def _least_loaded(cluster: ClusterNode) -> str:
    live = await cluster.registry.live_holders()
    if not live:
        raise LookupError("no live node takes instances")
    counts = Counter(h.node for h in (await cluster.lease_holders()).values())
    best = min(live, key=lambda n: (counts[n.id], n.id))
    if not best.address:
        raise LookupError(f"node '{best.id}' has no known address")
    return best.address
