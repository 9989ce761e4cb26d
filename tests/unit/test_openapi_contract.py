"""The OpenAPI document is one a client generator can use: short unique operation ids and the
token schemes declared and applied to every /v1/ operation."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_settings
from wagate.app import create_app
from wagate.messages.schemas import KINDS

METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
SNAKE = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    where = tmp_path_factory.mktemp("openapi")
    settings = make_settings(f"sqlite+aiosqlite:///{where / 'x.db'}", where)
    built: dict[str, Any] = create_app(settings, run_migrations=False).openapi()
    return built


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for section in ("paths", "webhooks"):
        for path, item in document.get(section, {}).items():
            for method, operation in item.items():
                if method in METHODS:
                    found.append((path, method, operation))
    return found


def test_operation_ids_are_short_unique_snake_case(document: dict[str, Any]) -> None:
    ids = [operation.get("operationId", "") for _, _, operation in operations(document)]
    assert len(ids) > 40
    assert len(set(ids)) == len(ids), sorted(i for i in ids if ids.count(i) > 1)
    bad = [
        i
        for i in ids
        if not SNAKE.fullmatch(i)
        or len(i) > 32
        or "v1" in i.split("_")
        or i.rsplit("_", 1)[-1] in METHODS
    ]
    assert bad == []
    for expected in ("create_instance", "list_instances", "send_text", "list_messages"):
        assert expected in ids
    # An API operation's id says what it acts on too ("connect_instance", not "connect"): a
    # generated client's method names stand alone.
    one_word = [
        operation["operationId"]
        for path, _, operation in operations(document)
        if path.startswith("/v1/") and "_" not in operation["operationId"]
    ]
    assert one_word == []
    # The per-kind send operations (wagate.messages.routes, bodies by messages/openapi.py).
    assert {f"send_{kind}" for kind in KINDS} <= set(ids)


def test_every_v1_operation_needs_a_token(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["bearer"]["description"],
    }
    assert schemes["apiKey"]["type"] == "apiKey"
    assert (schemes["apiKey"]["in"], schemes["apiKey"]["name"]) == ("header", "X-Api-Key")
    v1 = [(p, m, op) for p, m, op in operations(document) if p.startswith("/v1/")]
    assert len(v1) > 40
    missing = [
        f"{m} {p}" for p, m, op in v1 if op.get("security") != [{"bearer": []}, {"apiKey": []}]
    ]
    assert missing == []
    # The public routes stay public in the document too.
    for path in ("/healthz", "/readyz", "/"):
        assert "security" not in document["paths"][path]["get"]


def test_ids_come_from_create_app_alone() -> None:
    """One place decides the ids: no route sets its own operation_id."""
    source = Path(__file__).resolve().parents[2] / "src" / "wagate"
    assert [p for p in source.rglob("*.py") if "operation_id=" in p.read_text()] == []
