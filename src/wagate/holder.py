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


Entry = tuple[frozenset[str], re.Pattern[str]]
_PREFIX = "/v1/instances/{instance}"


class HolderTable:
    """(methods, path pattern) of the marked routes, indexed by method and by the path's
    segment after the instance's name: a request is matched against the few patterns that
    could take it (none for a send), not against every marked route in turn, which cost the
    busiest route more than the rest of the forwarding check."""

    def __init__(self, routes: list[tuple[frozenset[str], str]]) -> None:
        """`routes`: (methods, path template) of each marked route."""
        self.entries: list[Entry] = []
        for methods, path in routes:
            pattern, _, _ = compile_path(path)
            if "instance" not in pattern.groupindex:
                raise ValueError(f"holder route {path} names no {{instance}}")
            self.entries.append((methods, pattern))
        keys = [_segment(path) for _, path in routes]
        # A route whose segment after the instance is no literal (or that is not under
        # /v1/instances/{instance} at all) may take any request: it is among every candidate.
        anywhere = {i for i, key in enumerate(keys) if key is None}
        self._any: dict[str, list[Entry]] = {}
        self._by_segment: dict[tuple[str, str], list[Entry]] = {}
        for method in {m for methods, _ in routes for m in methods}:
            self._any[method] = self._of(method, anywhere)
            for key in {k for k in keys if k is not None}:
                found = self._of(method, {i for i, k in enumerate(keys) if k == key} | anywhere)
                if found:
                    self._by_segment[(method, key)] = found

    def _of(self, method: str, indexes: set[int]) -> list[Entry]:
        return [self.entries[i] for i in sorted(indexes) if method in self.entries[i][0]]

    def candidates(self, method: str, path: str) -> list[Entry]:
        """The entries that may match a request, in the table's order."""
        if path.startswith("/v1/instances/"):
            parts = path.split("/", 5)  # '', 'v1', 'instances', the name, the segment, ...
            found = self._by_segment.get((method, parts[4] if len(parts) > 4 else ""))
            if found is not None:
                return found
        return self._any.get(method, [])


def _segment(path: str) -> str | None:
    """The literal segment after `{instance}` in a route's path ("" for the instance
    itself); None when the route may take other segments there."""
    if not path.startswith(_PREFIX):
        return None
    rest = path.removeprefix(_PREFIX)
    if rest == "":
        return ""
    segment = rest[1:].split("/", 1)[0] if rest.startswith("/") else ""
    return segment if segment and "{" not in segment else None


def holder_routes(routes: Sequence[BaseRoute]) -> HolderTable:
    """The table of every marked route; each path names an `{instance}`. Included routers
    are walked through (FastAPI includes them lazily)."""
    marked: list[tuple[frozenset[str], str]] = []
    for route in iter_route_contexts(routes):
        if is_holder_endpoint(route.endpoint) and route.path is not None:
            marked.append((frozenset(route.methods or ()), route.path))
    return HolderTable(marked)
