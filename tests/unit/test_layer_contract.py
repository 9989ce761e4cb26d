"""The layer contract ([tool.importlinter] in pyproject.toml) holds for the code as it is, and
fails on an import that runs up a layer, also one under `if TYPE_CHECKING:`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint(src: Path, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-logo", "--no-cache", "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=src.parent,
        env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin"},
        timeout=120,
        check=False,
    )


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    shutil.copytree(
        ROOT / "src/wagate", tmp_path / "src/wagate", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_code_keeps_the_contract(copy: Path) -> None:
    result = lint(copy / "src", copy / "pyproject.toml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "crossing"),
    [
        # core -> features
        ("phones.py", "from wagate.messages import schemas", "wagate.phones -> wagate.messages"),
        # engines -> runtime, seen by the type checker only
        (
            "engines/status.py",
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n"
            "    from wagate.worker import sender",
            "wagate.engines.status -> wagate.worker.sender",
        ),
        # features -> app: the node's state, which the features take as a description
        ("health.py", "from wagate.state import AppState", "wagate.health -> wagate.state"),
        # engines -> features: routes belong above the engines
        (
            "engines/simulator/engine.py",
            "from wagate.auth import dependencies",
            "wagate.engines.simulator.engine -> wagate.auth.dependencies",
        ),
        # queue -> engines, inside the middle layer
        (
            "queue/base.py",
            "from wagate.engines import status",
            "wagate.queue.base -> wagate.engines",
        ),
    ],
)
def test_an_upward_import_breaks_it(copy: Path, module: str, line: str, crossing: str) -> None:
    path = copy / "src/wagate" / module
    path.write_text(path.read_text() + "\n" + line + "  # noqa\n")
    result = lint(copy / "src", copy / "pyproject.toml")
    assert result.returncode == 1, result.stdout + result.stderr
    assert crossing in result.stdout


def test_a_new_module_must_be_placed_in_a_layer(copy: Path) -> None:
    (copy / "src/wagate/unplaced.py").write_text("VALUE = 1\n")
    result = lint(copy / "src", copy / "pyproject.toml")
    assert result.returncode == 1
    assert "wagate.unplaced" in result.stdout
