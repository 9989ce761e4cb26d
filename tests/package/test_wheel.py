"""The package as a user gets it: `python -m build` makes a wheel and an sdist that carry
everything a node serves or runs, and the wheel, installed with its `whatsmeow` extra into a
clean venv outside the repository, serves a working gateway on its own.

pip reaches PyPI for the dependencies (its cache makes later runs quick)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_TOKEN, free_port
from tests.support.polling import eventually_sync
from tests.support.served import served

pytestmark = pytest.mark.package

ROOT = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
# What a node reads from its own package at run time, besides the Python modules.
CARRIED = [
    "wagate/py.typed",
    "wagate/dashboard/static/index.html",
    "wagate/dashboard/static/app.js",
    "wagate/dashboard/static/style.css",
    "wagate/docs_static/swagger-ui-bundle.js",
    "wagate/docs_static/swagger-ui.css",
    "wagate/docs_static/redoc.standalone.js",
    "wagate/docs_static/favicon-32x32.png",
    "wagate/docs_static/LICENSE.swagger-ui",
    "wagate/docs_static/LICENSE.redoc",
    "wagate/migrations/env.py",
    "wagate/migrations/script.py.mako",
    "wagate/migrations/versions/0001_initial_schema.py",
]


def _run(command: list[str], cwd: Path, timeout: float) -> None:
    done = subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert done.returncode == 0, f"{command} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def _clean_env() -> dict[str, str]:
    """The environment without this repository's venv or the tests' settings in it."""
    drop = {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"}
    return {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("WAGATE_")}


def _source_copy(into: Path) -> Path:
    """The files a clone would have (tracked or new, not ignored): a build in the work tree
    itself would reuse a stale src/wagate.egg-info, whose file list can hide a missing
    package-data entry."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            target = into / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return into


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = _source_copy(tmp_path_factory.mktemp("source"))
    out = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "build", "--outdir", str(out), str(source)], out, 540)
    return out


def test_wheel_and_sdist_carry_the_assets_and_migrations(dist: Path) -> None:
    (wheel,) = dist.glob(f"wagate-{VERSION}-py3-none-any.whl")
    (sdist,) = dist.glob(f"wagate-{VERSION}.tar.gz")
    wheel_names = set(zipfile.ZipFile(wheel).namelist())
    assert [name for name in CARRIED if name not in wheel_names] == []
    assert f"wagate-{VERSION}.dist-info/licenses/LICENSE" in wheel_names
    # Every dashboard file and every migration in the tree is in the wheel, not just a sample.
    tree = ROOT / "src"
    shipped = [
        *(tree / "wagate/dashboard/static").iterdir(),
        *(tree / "wagate/migrations/versions").glob("*.py"),
    ]
    assert [p for p in shipped if str(p.relative_to(tree)) not in wheel_names] == []
    with tarfile.open(sdist) as archive:
        sdist_names = {name.partition("/")[2] for name in archive.getnames()}
    expected = [f"src/{name}" for name in CARRIED] + ["LICENSE", "CHANGELOG.md", "pyproject.toml"]
    assert [name for name in expected if name not in sdist_names] == []


class Node:
    def __init__(self, url: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.url, self.process, self.log = url, process, log


@pytest.fixture(scope="module")
def installed(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv (outside the repository) with the wheel and its whatsmeow extra."""
    (wheel,) = dist.glob("*.whl")
    venv = tmp_path_factory.mktemp("venv") / "venv"
    assert ROOT not in venv.parents
    _run([sys.executable, "-m", "venv", str(venv)], venv.parent, 120)
    pip = [
        str(venv / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
    ]
    _run([*pip, f"{wheel}[whatsmeow]"], venv.parent, 540)
    return venv


@pytest.fixture(scope="module")
def node(installed: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    work = tmp_path_factory.mktemp("node")
    port = free_port()
    env = {
        **_clean_env(),
        "WAGATE_DATA_DIR": str(work / "data"),
        "WAGATE_DATABASE_URL": f"sqlite+aiosqlite:///{work / 'wagate.db'}",
        "WAGATE_ADMIN_TOKEN": ADMIN_TOKEN,
        "WAGATE_ENGINE": "simulator",
        "WAGATE_LOG_LEVEL": "warning",
    }
    log = work / "node.log"
    command = [
        str(installed / "bin" / "wagate"),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    # cwd: not the repository, so nothing can be imported from its src/.
    with served(
        command, port=port, cwd=work, env=env, log=log, start_timeout_s=60, stop_timeout_s=20
    ) as (url, process):
        yield Node(url, process, log)


def _wait_status(http: httpx.Client, name: str, status: str) -> None:
    eventually_sync(
        lambda: http.get(f"/v1/instances/{name}").json().get("status") == status,
        timeout=20,
        what=f"{name} to be {status}",
    )


def test_installed_wheel_serves_a_gateway(installed: Path, node: Node) -> None:
    located = subprocess.run(
        [str(installed / "bin" / "python"), "-c", "import wagate; print(wagate.__file__)"],
        cwd=installed.parent,
        env=_clean_env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(located).is_relative_to(installed), located
    assert (
        subprocess.run(
            [str(installed / "bin" / "wagate"), "--version"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        == f"wagate {VERSION}"
    )

    with httpx.Client(
        base_url=node.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30
    ) as http:
        assert http.get("/healthz").json() == {"status": "ok", "version": VERSION}
        # /docs loads its script and styles from the gateway, which reads them from the package.
        page = http.get("/docs")
        assert page.status_code == 200
        assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page.text)
        assert "/docs/static/swagger-ui-bundle.js" in assets
        assert "/docs/static/swagger-ui.css" in assets
        assert all(a.startswith("/") for a in assets), assets  # nothing from another host
        site = Path(located).parent / "docs_static"
        for asset in assets:
            served = http.get(asset)
            assert served.status_code == 200, asset
            assert served.content == (site / asset.rsplit("/", 1)[-1]).read_bytes()
        assert http.get("/openapi.json").json()["info"]["version"] == VERSION

        created = http.post("/v1/instances", json={"name": "pkg", "engine": "simulator"})
        assert created.status_code == 201, created.text
        assert http.post("/v1/instances/pkg/connect").status_code == 202
        _wait_status(http, "pkg", "pairing")
        scan = http.post("/v1/instances/pkg/simulator/scan", json={})
        assert scan.status_code == 204, scan.text
        _wait_status(http, "pkg", "connected")
        sent = http.post("/v1/instances/pkg/send/text", json={"to": "+5511987654321", "text": "hi"})
        assert sent.status_code == 200, sent.text
        assert sent.json()["status"] == "sent"
    assert node.process.poll() is None, node.log.read_text()[-3000:]
