"""The send bodies in the OpenAPI document.

The send routes read their body themselves (JSON or multipart, streamed under a size limit),
so FastAPI cannot see it. The schemas below are generated from the same pydantic models that
validate those bodies (`BODY_MODELS`), so the document cannot drift from what is accepted.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from fastapi import FastAPI
from pydantic.json_schema import models_json_schema

from wagate.messages.schemas import BODY_MODELS, MEDIA_KINDS, batch_item_name
from wagate.openapi_extend import Document, add_schemas, extend_openapi

REF = "#/components/schemas/{model}"


@functools.cache
def _models() -> dict[str, dict[str, Any]]:
    """Component schemas: each kind's model and the models nested in them."""
    _, top = models_json_schema(
        [(model, "validation") for model in BODY_MODELS.values()], ref_template=REF
    )
    found: dict[str, dict[str, Any]] = top.get("$defs", {})
    return found


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": REF.format(model=name)}


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    # A form field is given or left out; it cannot be JSON null.
    options = schema.get("anyOf")
    if options is None:
        return schema
    kept = [option for option in options if option.get("type") != "null"]
    rest = {k: v for k, v in schema.items() if k not in {"anyOf", "default"}}
    return {**kept[0], **rest} if len(kept) == 1 else {**rest, "anyOf": kept}


def _multipart(model_schema: dict[str, Any]) -> dict[str, Any]:
    """A media kind as multipart/form-data: the file in part `file`, the other fields as form
    fields (`mentions` repeated or comma-separated), `media` left out."""
    properties: dict[str, Any] = {
        "file": {"type": "string", "format": "binary", "description": "the media file"}
    }
    for field, schema in model_schema["properties"].items():
        if field != "media":
            properties[field] = _without_null(schema)
    required = ["file", *(f for f in model_schema.get("required", []) if f != "media")]
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _batch_item(kind: str, model_schema: dict[str, Any]) -> dict[str, Any]:
    item = copy.deepcopy(model_schema)
    item["title"] = batch_item_name(kind)
    item["properties"] = {"kind": {"type": "string", "const": kind}, **item["properties"]}
    item["required"] = ["kind", *item.get("required", [])]
    if "examples" in item:
        item["examples"] = [{"kind": kind, **example} for example in item["examples"]]
    return item


def send_request_body(kind: str) -> dict[str, Any]:
    """`openapi_extra` of the route POST …/send/{kind} for one kind."""
    name = BODY_MODELS[kind].__name__
    content: dict[str, Any] = {"application/json": {"schema": _ref(name)}}
    if kind in MEDIA_KINDS:
        content["multipart/form-data"] = {"schema": _multipart(_models()[name])}
    return {"requestBody": {"required": True, "content": content}}


def document_send_bodies(app: FastAPI) -> None:
    """Add the send models (and the batch items, which `BatchIn` refers to) to the
    components of the app's OpenAPI document."""

    def add(document: Document) -> None:
        models = _models()
        extra = copy.deepcopy(models)
        for kind, model in BODY_MODELS.items():
            extra[batch_item_name(kind)] = _batch_item(kind, models[model.__name__])
        add_schemas(document, extra)

    extend_openapi(app, add)
