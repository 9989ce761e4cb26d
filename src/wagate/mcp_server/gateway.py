"""The API client behind the MCP tools: one method per HTTP call, errors as tool errors."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx
from mcp.server.mcpserver.exceptions import ToolError

# Headers a token may come in (docs/api.md, "Auth"); forwarded as they came.
TOKEN_HEADERS = ("authorization", "x-api-key")

# A sync send waits for its outcome; the node bounds that wait itself, well inside this.
TIMEOUT = httpx.Timeout(120.0, connect=10.0)


class Gateway:
    """The API as one token sees it."""

    def __init__(self, client: httpx.AsyncClient, headers: Mapping[str, str]) -> None:
        self.client = client
        self.headers = dict(headers)

    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        query = {k: _query_value(v) for k, v in (params or {}).items() if v is not None}
        response = await self.client.request(
            method, path, json=json, params=query, headers={**self.headers, **(headers or {})}
        )
        if response.status_code >= 400:
            raise api_error(response)
        return response.json() if response.content else None


def segment(value: str) -> str:
    """One path segment of the API (a JID's `@` stays; a `/` cannot cross into the path)."""
    return quote(value, safe="@+")


def token_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """The caller's token headers out of an HTTP request's headers."""
    if headers is None:
        return {}
    return {name: headers[name] for name in TOKEN_HEADERS if headers.get(name)}


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def api_error(response: httpx.Response) -> ToolError:
    """The API's error body as the message an agent reads: status, code, message, details."""
    try:
        error = response.json()["error"]
        code, message, details = error["code"], error["message"], error.get("details") or {}
    except (ValueError, KeyError, TypeError):
        code, message, details = "http_error", response.reason_phrase, {}
    text = f"{response.status_code} {code}: {message}"
    if details:
        text += f" {json.dumps(details)}"
    return ToolError(text)


def _query_value(value: Any) -> Any:
    return ("true" if value else "false") if isinstance(value, bool) else value
