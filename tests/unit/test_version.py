"""The version is written once, in pyproject.toml, and everything else reads it from there."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

import wagate
from wagate.cli import main

ROOT = Path(__file__).resolve().parents[2]
DECLARED = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def test_package_version_is_pyprojects() -> None:
    assert DECLARED == "0.2.0"
    assert wagate.__version__ == DECLARED


def test_cli_prints_the_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"wagate {DECLARED}"


def test_changelog_has_the_version() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in changelog
    assert f"## [{DECLARED}] - " in changelog
    assert changelog.index("## [Unreleased]") < changelog.index(f"## [{DECLARED}]")
