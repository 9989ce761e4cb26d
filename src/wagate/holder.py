"""Routes that must run on the node holding the instance's live client.

A route that acts on the client itself (a lifecycle call, an engine action, a simulator
control) is marked `@on_holder`. In a cluster the forwarding middleware sends those requests
to the holder; its table is built from the marks on the app's routes (`holder_routes`), so
a new route is forwarded by being marked, and `require_holder_route` makes a route that runs
an engine action without the mark fail loudly in every test that calls it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute, compile_path

F = TypeVar("F", bound=Callable[..., Any])
MARK = "__wagate_on_holder__"


class UnmarkedHolderRoute(RuntimeError):
    """A route ran an engine action without `@on_holder`: on a cluster it would answer
    "not connected" from every node but the holder."""


def on_holder(endpoint: F) -> F:
    """Mark a route's endpoint (put it below the router's decorator)."""
    setattr(endpoint, MARK, True)
    return endpoint


def is_holder_endpoint(endpoint: object) -> bool:
    return bool(getattr(endpoint, MARK, False))


def require_holder_route(scope: Mapping[str, Any]) -> None:
    endpoint = scope.get("endpoint")
    if endpoint is not None and not is_holder_endpoint(endpoint):
        name = getattr(endpoint, "__name__", repr(endpoint))
        raise UnmarkedHolderRoute(f"route '{name}' runs an engine action: mark it @on_holder")


HolderTable = list[tuple[frozenset[str], re.Pattern[str]]]


def holder_routes(routes: Sequence[BaseRoute]) -> HolderTable:
    """(methods, path pattern) of every marked route; each pattern has an `instance` group.
    Included routers are walked through (FastAPI includes them lazily)."""
    table: HolderTable = []
    for route in iter_route_contexts(routes):
        if not is_holder_endpoint(route.endpoint) or route.path is None:
            continue
        pattern, _, _ = compile_path(route.path)
        if "instance" not in pattern.groupindex:
            raise ValueError(f"holder route {route.path} names no {{instance}}")
        table.append((frozenset(route.methods or ()), pattern))
    return table
