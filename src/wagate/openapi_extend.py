"""Additions to an app's OpenAPI document that FastAPI cannot derive from the routes (the
send bodies read by hand, the events, the security schemes): each one a step run once on the
document FastAPI builds, before it is cached."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

Document = dict[str, Any]


def extend_openapi(app: FastAPI, step: Callable[[Document], None]) -> None:
    """Run `step` on the app's document once, when it is first built."""
    build = app.openapi

    def openapi() -> Document:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        step(document)
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def add_schemas(document: Document, schemas: dict[str, Any]) -> None:
    """Put `schemas` into the document's components; one name meaning two schemas is a bug."""
    components = document.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in schemas.items():
        if name in components and components[name] != schema:
            raise RuntimeError(f"two different OpenAPI schemas are named {name}")
        components[name] = schema
