"""What both clients do around a Call: build the httpx request, read the answer."""

from __future__ import annotations

from typing import Any, TypeVar

import httpx

from wagate_client._routes import Call, Reply
from wagate_client.errors import WagateError, error_from_response

T = TypeVar("T")
DEFAULT_TIMEOUT = 30.0
USER_AGENT = "wagate-client-python/0.2.0"


class TransportError(WagateError):
    """The gateway could not be reached or the connection broke (status 0)."""


def auth_headers(token: str | None) -> dict[str, str]:
    headers = {"User-Agent": USER_AGENT}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def request_args(call: Call[Any]) -> dict[str, Any]:
    args: dict[str, Any] = {"params": call.params or None, "headers": call.headers or None}
    if call.file is not None or call.form is not None:
        args["data"] = call.form or {}
        if call.file is not None:
            args["files"] = {"file": call.file}
    elif call.json is not None:
        args["json"] = call.json
    return args


def finish(call: Call[T], response: httpx.Response) -> T:
    """The Call's result, or the WagateError the answer carries."""
    status = response.status_code
    if status >= 400 and status not in call.ok_statuses:
        raise error_of(response)
    return call.parse(Reply(status, response.headers, response.content))


def error_of(response: httpx.Response) -> WagateError:
    body: Any
    try:
        body = response.json()
    except ValueError:
        body = response.text
    return error_from_response(response.status_code, body, response.headers)


def transport_error(exc: httpx.HTTPError) -> TransportError:
    # The exception's class and text only: never the request (its headers hold the token).
    return TransportError(0, "transport_error", f"{type(exc).__name__}: {exc}")
