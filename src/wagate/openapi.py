"""What makes the OpenAPI document usable by client generators: short stable operation ids
and the two ways a token is sent, declared as security schemes."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from wagate.openapi_extend import Document, extend_openapi

# API.md "Auth": a token goes either way; any one of them is enough.
SECURITY_SCHEMES: dict[str, Any] = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "the admin token or an instance token",
    },
    "apiKey": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Api-Key",
        "description": "the same token, in its own header",
    },
}
SECURITY: list[dict[str, list[str]]] = [{"bearer": []}, {"apiKey": []}]
METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def operation_id(route: APIRoute) -> str:
    """The route function's name (or the `name` a generated route is given): `create_instance`,
    `send_text`. FastAPI's default adds the path and the method, which client generators turn
    into method names like `create_instance_v1_instances_post`."""
    return route.name


def document_security(app: FastAPI) -> None:
    """Declare the schemes, and that every `/v1/` operation needs one of them."""

    def add(document: Document) -> None:
        components = document.setdefault("components", {})
        components.setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
        for path, item in document.get("paths", {}).items():
            if path.startswith("/v1/"):
                for method, operation in item.items():
                    if method in METHODS:
                        operation["security"] = SECURITY

    extend_openapi(app, add)
