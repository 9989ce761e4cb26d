"""An engine action, declared once: its name, typed request and result, and its failures.

Everything an engine client does for the gateway besides its lifecycle (start, stop, logout,
pairing) is an `Action`: sending, checking numbers, marking read, presence, rejecting a call,
and every action added later. The declaration is the single source for:

- the engine-host IPC: the request and result cross as `dump_*`/`load_*` of their declared
  types (pydantic `TypeAdapter`s, so dataclasses and models both work), not as method-name
  strings with hand-written field lists;
- each engine's handler table (`ActionTable`): a test fails when an engine lacks a handler
  for a declared action;
- the failure codes a route documents (`failures`, mapped to HTTP statuses in
  `wagate.engine_failures`).

Routes that run an action are marked `@on_holder` (wagate.holder): in a cluster they are
forwarded to the node that holds the instance's live client.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Generic, TypeVar, cast

from pydantic import TypeAdapter

from wagate.engine_failures import PermanentEngineError

Req = TypeVar("Req")
Res = TypeVar("Res")

ACTIONS: dict[str, Action[Any, Any]] = {}


class Action(Generic[Req, Res]):
    """One thing an engine client can be asked to do. Compared by identity: one object per
    declared action, usable as a dictionary key."""

    def __init__(
        self,
        name: str,
        request: type[Req],
        result: Any,
        summary: str,
        failures: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.request = request
        self.result = result
        self.summary = summary
        self.failures = failures
        self._request = TypeAdapter(request)
        self._result: TypeAdapter[Res] = TypeAdapter(result)

    def __repr__(self) -> str:
        return f"Action({self.name!r})"

    def dump_request(self, request: Req) -> Any:
        """The request as plain values (bytes and datetimes stay; the IPC encodes them)."""
        return self._request.dump_python(request)

    def load_request(self, data: Any) -> Req:
        return self._request.validate_python(data)

    def dump_result(self, result: Res) -> Any:
        return self._result.dump_python(result)

    def load_result(self, data: Any) -> Res:
        return self._result.validate_python(data)


def declare(
    name: str,
    request: type[Req],
    result: Any,
    summary: str,
    failures: tuple[str, ...] = (),
) -> Action[Req, Res]:
    """Declare an action; a second declaration of a name is a programming error."""
    if name in ACTIONS:
        raise ValueError(f"engine action {name!r} is declared twice")
    action: Action[Req, Res] = Action(name, request, result, summary, failures)
    ACTIONS[name] = action
    return action


Handler = Callable[[Any], Awaitable[Any]]


def handle(action: Action[Req, Res], fn: Callable[[Req], Awaitable[Res]]) -> tuple[str, Handler]:
    """One entry of an `ActionTable`: type-checks that `fn` takes the action's request and
    gives its result."""
    return action.name, cast(Handler, fn)


class ActionTable:
    """An engine's handlers, one per declared action."""

    def __init__(self, owner: str, entries: Iterable[tuple[str, Handler]]) -> None:
        self.owner = owner
        self._handlers: dict[str, Handler] = {}
        for name, fn in entries:
            if name not in ACTIONS:
                raise ValueError(f"{owner}: {name!r} is not a declared engine action")
            if name in self._handlers:
                raise ValueError(f"{owner}: two handlers for {name!r}")
            self._handlers[name] = fn

    async def run(self, action: Action[Req, Res], request: Req) -> Res:
        fn = self._handlers.get(action.name)
        if fn is None:
            raise PermanentEngineError(
                f"the {self.owner} engine does not offer '{action.name}'", code="not_supported"
            )
        return cast(Res, await fn(request))

    def handler(self, name: str) -> Handler | None:
        return self._handlers.get(name)

    def missing(self) -> list[str]:
        """Declared actions without a handler here (a test keeps this empty)."""
        return sorted(set(ACTIONS) - set(self._handlers))
