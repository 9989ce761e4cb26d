"""The OpenAPI 3.1 `webhooks` section: one POST per event type, its body the envelope with that
event's `data`, generated from the payload models the publish sites build events with."""

from __future__ import annotations

import copy
import functools
from typing import Any

from fastapi import FastAPI
from pydantic.json_schema import models_json_schema

from wagate.events.payloads import PAYLOADS, Payload
from wagate.openapi_extend import Document, add_schemas, extend_openapi

REF = "#/components/schemas/{model}"

# docs/events.md "The envelope".
ENVELOPE_FIELDS: dict[str, Any] = {
    "id": {
        "type": "string",
        "pattern": "^evt_[0-9a-f]{32}$",
        "description": "the event's id; the same on every retry and redelivery",
    },
    "instance": {"type": "string", "description": "the instance's name"},
    "timestamp": {
        "type": "string",
        "format": "date-time",
        "description": "when it happened, RFC 3339, UTC",
    },
}

# docs/events.md "On a webhook" (the names are those wagate.webhooks.sender sends).
HEADERS: list[dict[str, Any]] = [
    {
        "name": "X-Wagate-Delivery",
        "in": "header",
        "required": True,
        "description": "the delivery's id: one per event and webhook, the same on every retry",
        "schema": {"type": "string"},
    },
    {
        "name": "X-Wagate-Signature",
        "in": "header",
        "required": False,
        "description": "when the webhook has a secret: `t=<unix seconds>,v1=<hex "
        'HMAC-SHA256(secret, "<t>.<raw body>")>`; check it over the raw body',
        "schema": {"type": "string", "pattern": "^t=[0-9]+,v1=[0-9a-f]{64}$"},
    },
]


def envelope_name(model: type[Payload]) -> str:
    """`ConnectionUpdateData` is carried by `ConnectionUpdateEvent`."""
    return model.__name__.removesuffix("Data") + "Event"


@functools.cache
def event_schemas() -> dict[str, dict[str, Any]]:
    """Component schemas: each event's envelope, its `data` and the models nested in it."""
    _, top = models_json_schema(
        [(model, "serialization") for model in PAYLOADS.values()], ref_template=REF
    )
    schemas: dict[str, dict[str, Any]] = top.get("$defs", {})
    for schema in schemas.values():
        for field in schema.get("properties", {}).values():
            # A field left out when it does not apply is never null: no `default: null` on it
            # (generators would otherwise type it "str, default None" against its own schema).
            if "default" in field and field["default"] is None:
                del field["default"]
    for event, model in PAYLOADS.items():
        schemas[envelope_name(model)] = {
            "title": envelope_name(model),
            "description": f"The `{event}` event, as a webhook body and an SSE message's data.",
            "type": "object",
            "properties": {
                "id": ENVELOPE_FIELDS["id"],
                "event": {"type": "string", "const": event},
                "instance": ENVELOPE_FIELDS["instance"],
                "timestamp": ENVELOPE_FIELDS["timestamp"],
                "data": {"$ref": REF.format(model=model.__name__)},
            },
            "required": ["id", "event", "instance", "timestamp", "data"],
            "additionalProperties": False,
        }
    return schemas


def webhook(event: str, model: type[Payload]) -> dict[str, Any]:
    """The path item of one event in the `webhooks` section."""
    event_header = {
        "name": "X-Wagate-Event",
        "in": "header",
        "required": True,
        "description": "the event's name",
        "schema": {"type": "string", "const": event},
    }
    return {
        "post": {
            "operationId": event,
            "summary": (model.__doc__ or event).strip().splitlines()[0],
            "description": (model.__doc__ or "").strip(),
            "parameters": [event_header, *copy.deepcopy(HEADERS)],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": REF.format(model=envelope_name(model))}}
                },
            },
            "responses": {
                "2XX": {"description": "received; any other answer is retried with backoff"}
            },
        }
    }


def document_events(app: FastAPI) -> None:
    """Add the `webhooks` section, and the event schemas to the components."""

    def add(document: Document) -> None:
        add_schemas(document, copy.deepcopy(event_schemas()))
        webhooks = document.setdefault("webhooks", {})
        webhooks.update({event: webhook(event, model) for event, model in PAYLOADS.items()})

    extend_openapi(app, add)
