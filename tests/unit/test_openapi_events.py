"""Every event type has one payload model and a `webhooks` entry generated from it; the batch
results and error bodies are named, typed schemas."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, get_args

import pytest

from tests.conftest import make_settings
from wagate.app import create_app
from wagate.events.openapi import envelope_name
from wagate.events.payloads import PAYLOADS, Payload
from wagate.instances.schemas import EventName

ROOT = Path(__file__).resolve().parents[2]
REF = "#/components/schemas/"
# A publish call that names its event by a string (bus.publish(name, id, "message_ack", data)),
# where it must hand the event's payload model, which carries the name.
PUBLISHED = re.compile(r"publish\((?:[^()\"]|\([^()]*\))*?\"([a-z_]+)\"", re.S)


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    where = tmp_path_factory.mktemp("openapi")
    settings = make_settings(f"sqlite+aiosqlite:///{where / 'x.db'}", where)
    built: dict[str, Any] = create_app(settings, run_migrations=False).openapi()
    return built


def schema(document: dict[str, Any], ref: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = document["components"]["schemas"][ref["$ref"].removeprefix(REF)]
    return found


def payload_models(model: type[Payload] = Payload) -> list[type[Payload]]:
    found: list[type[Payload]] = []
    for sub in model.__subclasses__():
        found += [sub, *payload_models(sub)]
    return found


def test_every_event_type_has_a_model_a_doc_entry_and_a_webhook(document: dict[str, Any]) -> None:
    """EventBus.publish takes a payload model and reads the event's name from it: an event
    type is its model, declared once; the rest is checked against PAYLOADS here."""
    models = payload_models()
    unnamed = [model.__name__ for model in models if "event" not in model.__dict__]
    assert unnamed == [], "a payload model without its `event` name"
    assert {model.event: model for model in models} == PAYLOADS
    published: set[str] = set()
    for path in (ROOT / "src" / "wagate").rglob("*.py"):
        published.update(PUBLISHED.findall(path.read_text()))
    assert published == set(), "published by name rather than by its payload model"
    # The events a webhook may subscribe to (a Literal, for the request's schema).
    assert set(get_args(EventName)) == set(PAYLOADS)
    documented = set(
        re.findall(r"^### `([a-z_]+)`$", (ROOT / "docs" / "events.md").read_text(), re.M)
    )
    assert documented == set(PAYLOADS)
    assert set(document["webhooks"]) == set(PAYLOADS)


@pytest.mark.parametrize("event", sorted(PAYLOADS))
def test_webhook_entry_is_the_envelope_with_the_model_data(
    document: dict[str, Any], event: str
) -> None:
    post = document["webhooks"][event]["post"]
    assert post["operationId"] == event
    headers = {p["name"]: p for p in post["parameters"] if p["in"] == "header"}
    assert set(headers) == {"X-Wagate-Event", "X-Wagate-Delivery", "X-Wagate-Signature"}
    assert headers["X-Wagate-Event"]["schema"] == {"type": "string", "const": event}
    assert headers["X-Wagate-Event"]["required"] and headers["X-Wagate-Delivery"]["required"]
    # Only a webhook with a secret signs.
    assert headers["X-Wagate-Signature"]["required"] is False
    body = post["requestBody"]["content"]["application/json"]["schema"]
    model = PAYLOADS[event]
    assert body == {"$ref": REF + envelope_name(model)}
    envelope = schema(document, body)
    assert envelope["required"] == ["id", "event", "instance", "timestamp", "data"]
    assert envelope["properties"]["event"] == {"type": "string", "const": event}
    data = schema(document, envelope["properties"]["data"])
    assert data["title"] == model.__name__
    # The document's fields are the model's, by the names they are sent under.
    sent = {field.alias or name for name, field in model.model_fields.items()}
    assert set(data["properties"]) == sent
    assert "2XX" in post["responses"]


@pytest.mark.parametrize("event", sorted(PAYLOADS))
def test_events_md_lists_the_model_fields(document: dict[str, Any], event: str) -> None:
    """docs/events.md's table of each event names exactly the fields of its schema."""
    text = (ROOT / "docs" / "events.md").read_text()
    section = text.split(f"### `{event}`", 1)[1].split("\n### ", 1)[0]
    fields = set(re.findall(r"^\| `([a-z_]+)` \|", section, re.M))
    envelope = schema(document, {"$ref": REF + envelope_name(PAYLOADS[event])})
    data = schema(document, envelope["properties"]["data"])
    assert fields == set(data["properties"])
    required = set(data.get("required", []))
    # A field that is left out when it does not apply is never required, and never null.
    for name in set(data["properties"]) - required:
        assert "null" not in str(data["properties"][name].get("anyOf", "")), name
        assert "default" not in data["properties"][name], name


def test_batch_results_are_a_typed_union(document: dict[str, Any]) -> None:
    operation = document["paths"]["/v1/instances/{instance}/send/batch"]["post"]
    answer = operation["responses"]["202"]["content"]["application/json"]["schema"]
    results = schema(document, answer)["properties"]["results"]["items"]
    options = results.get("oneOf") or results["anyOf"]
    queued, refused = (schema(document, option) for option in options)
    assert set(queued["required"]) == {"correlation_id", "status"}
    assert refused["required"] == ["error"]
    assert refused["properties"]["error"] == {"$ref": REF + "ErrorDetail"}
    detail = schema(document, refused["properties"]["error"])
    assert set(detail["required"]) == {"code", "message", "details"}


def test_every_error_answer_is_the_named_error_body(document: dict[str, Any]) -> None:
    errors = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for code, response in operation.get("responses", {}).items():
                if code[0] in "45":
                    errors.append((f"{method} {path} {code}", response))
    assert len(errors) > 100
    # /metrics answers 401 when WAGATE_METRICS_TOKEN is set.
    assert "get /metrics 401" in dict(errors)
    wrong = [
        where
        for where, response in errors
        if response.get("content", {}).get("application/json", {}).get("schema")
        != {"$ref": REF + "ErrorBody"}
    ]
    assert wrong == []
    body = document["components"]["schemas"]["ErrorBody"]
    assert body["properties"]["error"] == {"$ref": REF + "ErrorDetail"}


def test_schema_names_are_readable(document: dict[str, Any]) -> None:
    names = list(document["components"]["schemas"])
    unreadable = [n for n in names if not re.fullmatch(r"[A-Z][A-Za-z0-9]*", n)]
    assert unreadable == []
    assert not [n for n in names if n.startswith("Body") or "HTTPValidationError" in n]


def test_the_dashboard_webhook_form_offers_every_event() -> None:
    page = (ROOT / "src" / "wagate" / "dashboard" / "static" / "index.html").read_text()
    offered = set(re.findall(r'name="events" value="([a-z_]+)"', page))
    assert offered == set(PAYLOADS)
