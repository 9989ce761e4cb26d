"""Writes nodes/Wagate/gateway.json: what the n8n nodes offer of the gateway, read from the
gateway itself (the message kinds and the fields of each kind's send body, the event names), so
the nodes cannot drift from the API. tests/unit/test_n8n_nodes.py fails while the file is stale.

Run from the repository's root: .venv/bin/python integrations/n8n/scripts/gateway.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, get_args

from wagate.instances.schemas import EventName
from wagate.message_kinds import KINDS
from wagate.messages.schemas import BODY_MODELS

TARGET = Path(__file__).resolve().parents[1] / "nodes" / "Wagate" / "gateway.json"
# Fields every kind has, given by the node's own parameters (`to`) rather than per kind.
COMMON = {"to"}
N8N_TYPES = {"string": "string", "integer": "number", "number": "number", "boolean": "boolean"}


def _n8n_type(schema: dict[str, Any]) -> str:
    """A scalar field is an n8n parameter of its type; a list or an object is given as JSON."""
    options = [s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"]
    kind = options[0].get("type") if len(options) == 1 else None
    return N8N_TYPES.get(str(kind), "json")


def _fields() -> list[dict[str, Any]]:
    """One entry per body field name, with the kinds that take it, in the order of the kinds."""
    fields: dict[str, dict[str, Any]] = {}
    for kind, model in BODY_MODELS.items():
        schema = model.model_json_schema()
        required = set(schema.get("required", []))
        for name, prop in schema["properties"].items():
            if name in COMMON:
                continue
            entry = fields.setdefault(
                name,
                {
                    "name": name,
                    "type": _n8n_type(prop),
                    "description": prop.get("description", ""),
                    "default": prop.get("default"),
                    "kinds": [],
                    "required": [],
                },
            )
            entry["kinds"].append(kind)
            if name in required:
                entry["required"].append(kind)
    return list(fields.values())


def gateway() -> dict[str, Any]:
    return {"kinds": list(KINDS), "events": list(get_args(EventName)), "fields": _fields()}


def render() -> str:
    return json.dumps(gateway(), indent=2) + "\n"


if __name__ == "__main__":
    TARGET.write_text(render())
    sys.stdout.write(f"wrote {TARGET}\n")
