"""The n8n package (integrations/n8n) against the gateway, without n8n: what its nodes offer
is read from the gateway (gateway.json), and the package declares what it ships."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from types import ModuleType
from typing import Any, get_args

from wagate.instances.schemas import EventName
from wagate.message_kinds import KINDS
from wagate.messages.schemas import BODY_MODELS

PACKAGE = Path(__file__).resolve().parents[2] / "integrations" / "n8n"
NODES = PACKAGE / "nodes" / "Wagate"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("n8n_gateway", PACKAGE / "scripts" / "gateway.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _gateway() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((NODES / "gateway.json").read_text())
    return loaded


def test_gateway_json_is_current() -> None:
    """A kind, a field of a send body or an event added to the gateway shows in the nodes
    once gateway.json is regenerated: `.venv/bin/python integrations/n8n/scripts/gateway.py`."""
    assert (NODES / "gateway.json").read_text() == _generator().render()


def test_every_kind_and_event_is_offered() -> None:
    gateway = _gateway()
    assert gateway["kinds"] == list(KINDS)
    assert gateway["events"] == list(get_args(EventName))


def test_every_field_of_every_kind_is_a_parameter() -> None:
    offered = {(kind, f["name"]) for f in _gateway()["fields"] for kind in f["kinds"]}
    wanted = {
        (kind, name)
        for kind, model in BODY_MODELS.items()
        for name in model.model_fields
        if name != "to"  # the node's own `To` parameter
    }
    assert offered == wanted


def test_the_nodes_take_kinds_and_events_from_gateway_json() -> None:
    """One place per concept: no node keeps a list of kinds or events of its own."""
    action = (NODES / "Wagate.node.ts").read_text()
    trigger = (NODES / "WagateTrigger.node.ts").read_text()
    assert "gateway.kinds.map" in action and "gateway.fields" in action
    assert "gateway.events.map" in trigger
    for source in (action, trigger):
        assert not re.search(r"'message_received',\s*'message_ack'", source)
        assert not re.search(r"'text',\s*'image',\s*'video'", source)


def test_package_declares_what_it_builds() -> None:
    package = json.loads((PACKAGE / "package.json").read_text())
    assert package["name"] == "n8n-nodes-wagate"
    assert "n8n-community-node-package" in package["keywords"]
    built = [*package["n8n"]["credentials"], *package["n8n"]["nodes"]]
    for path in built:
        source = PACKAGE / re.sub(r"^dist/(.*)\.js$", r"\1.ts", path)
        assert source.is_file(), path
    # Exact versions: the build is the same wherever it runs.
    for name, version in package["devDependencies"].items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", version), (name, version)
    lock = json.loads((PACKAGE / "package-lock.json").read_text())
    assert lock["packages"][""]["devDependencies"] == package["devDependencies"]


def test_example_workflow_uses_the_package_nodes() -> None:
    package_nodes = {"n8n-nodes-wagate.wagate", "n8n-nodes-wagate.wagateTrigger"}
    for example in (PACKAGE / "examples").glob("*.json"):
        workflow = json.loads(example.read_text())
        types = {node["type"] for node in workflow["nodes"]}
        assert types <= package_nodes, example.name
        assert workflow["connections"], example.name
