"""docs/configuration.md and .env.example are generated from the settings class and list
every setting; an unknown WAGATE_* variable is told apart from the settings."""

from __future__ import annotations

import re
from pathlib import Path

from wagate import config_docs
from wagate.config import Settings, unknown_environment_variables

ROOT = Path(__file__).resolve().parents[2]


def test_reference_and_env_example_are_up_to_date() -> None:
    for path, text in config_docs.outputs(ROOT).items():
        assert path.exists(), f"{path} is missing: run python -m wagate.config_docs"
        assert path.read_text() == text, f"{path} is out of date: run python -m wagate.config_docs"


def test_every_setting_has_a_row_a_default_and_a_meaning() -> None:
    page = (ROOT / "docs/configuration.md").read_text()
    example = (ROOT / ".env.example").read_text()
    for name in Settings.model_fields:
        variable = f"WAGATE_{name.upper()}"
        assert f"`{variable}`" in page
        assert f"# {variable}=" in example
    rows = [line for line in page.splitlines() if line.startswith("| `WAGATE_")]
    for row in rows:
        _, names, defaults, meaning, _ = re.split(r"(?<!\\)\|", row)
        assert names.count("`") == defaults.count("`"), row  # one default per variable
        assert len(meaning.strip()) > 10, row
    # the defaults come from the class, not from a copy
    assert "| `WAGATE_PORT` | `8080` |" in page
    assert "# WAGATE_DATA_DIR=./data" in example


def test_unknown_variables_are_found_by_name_and_settings_are_not() -> None:
    environ = {
        "WAGATE_PORT": "1",
        "wagate_log_level": "debug",  # pydantic-settings reads names case-insensitively
        "WAGATE_PROT": "8080",
        "WAGATE_WEBHOOK_SECRETT": "x",
        "WAGATE_TEST_PG_URL": "postgresql://",  # the test suite's own
        "OTHER": "1",
    }
    assert unknown_environment_variables(environ) == ["WAGATE_PROT", "WAGATE_WEBHOOK_SECRETT"]
