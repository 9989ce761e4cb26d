"""A real n8n for the tests of the n8n package (integrations/n8n): installed from npm once into
a cache directory and reused, the package built from the working tree and loaded into it as a
community package, n8n started on loopback with its own user folder and SQLite database.

Nothing here skips: a machine without npm, or an n8n that cannot be installed or started,
fails the test with what went wrong.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.served import served

# n8n 1.x: 2.x needs Node.js 24. Later 1.123 releases pull in isolated-vm 6, which builds
# only on Node.js 22 or newer.
N8N_VERSION = "1.123.50"
CACHE = Path(os.environ.get("WAGATE_TEST_CACHE") or Path.home() / ".cache" / "wagate-tests")
PACKAGE = Path(__file__).resolve().parents[2] / "integrations" / "n8n"
PACKAGE_NAME = "n8n-nodes-wagate"
# n8n-nodes-base takes xlsx as a tarball from cdn.sheetjs.com, outside the npm registry (which
# is all these machines reach): the registry's last xlsx stands in for it.
INSTALL_MANIFEST = {"name": "wagate-test-n8n", "private": True, "overrides": {"xlsx": "0.18.5"}}
INSTALL_TIMEOUT_S = 1800
START_TIMEOUT_S = 180


def _run(command: list[str], cwd: Path, timeout: float, what: str) -> None:
    try:
        done = subprocess.run(
            command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"{what}: {exc}")
    if done.returncode != 0:
        pytest.fail(f"{what} failed ({done.returncode}):\n{(done.stdout + done.stderr)[-4000:]}")


def _npm() -> str:
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        pytest.fail("node and npm are needed (scripts/setup.sh --test installs them)")
    return npm


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One installer at a time: parallel test processes wait for the first one's install."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def install_n8n() -> Path:
    """The n8n entry script, installed into the cache on first use. The install goes to a
    temporary directory renamed into place when complete, so a broken one is never reused."""
    target = CACHE / f"n8n-{N8N_VERSION}"
    script = target / "node_modules" / "n8n" / "bin" / "n8n"
    with _locked(CACHE / f"n8n-{N8N_VERSION}.lock"):
        if script.is_file():
            return script
        npm = _npm()
        partial = target.with_name(target.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        (partial / "package.json").write_text(json.dumps(INSTALL_MANIFEST))
        command = [npm, "install", "--no-audit", "--no-fund", "--omit=dev", f"n8n@{N8N_VERSION}"]
        _run(command, partial, INSTALL_TIMEOUT_S, f"installing n8n {N8N_VERSION}")
        shutil.rmtree(target, ignore_errors=True)
        partial.rename(target)
    return script


def build_package(work: Path) -> Path:
    """The package's tarball, made as docs/integrations.md says: a copy of integrations/n8n
    without what a build leaves, `npm ci` from its lockfile, `npm run build`, `npm pack`."""
    npm = _npm()
    source = work / "source"
    shutil.copytree(PACKAGE, source, ignore=shutil.ignore_patterns("node_modules", "dist", "*.tgz"))
    _run([npm, "ci", "--no-audit", "--no-fund"], source, 600, "npm ci of the n8n package")
    _run([npm, "run", "build"], source, 600, "building the n8n package")
    _run([npm, "pack", "--quiet"], source, 600, "packing the n8n package")
    (tarball,) = source.glob(f"{PACKAGE_NAME}-*.tgz")
    return tarball


def install_package(tarball: Path, user_folder: Path) -> None:
    """Unpacked into the user folder's community packages (`.n8n/nodes/node_modules`), as
    n8n's installer does: its nodes are then `n8n-nodes-wagate.*`."""
    target = user_folder / ".n8n" / "nodes" / "node_modules" / PACKAGE_NAME
    target.mkdir(parents=True)
    with tarfile.open(tarball) as packed:
        members = packed.getmembers()
        for member in members:
            # Every entry of an npm tarball is under `package/`.
            member.name = member.name.removeprefix("package/")
        packed.extractall(target, members=members, filter="data")


def environment(user_folder: Path, port: int) -> dict[str, str]:
    """n8n on loopback, with its own folder and SQLite, and nothing that calls n8n's servers
    (telemetry, version notifications, templates, the community nodes' directory)."""
    keep = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "TZ") if key in os.environ}
    return {
        **keep,
        "N8N_USER_FOLDER": str(user_folder),
        "N8N_PORT": str(port),
        "N8N_LISTEN_ADDRESS": "127.0.0.1",
        "N8N_HOST": "127.0.0.1",
        "N8N_PROTOCOL": "http",
        "WEBHOOK_URL": f"http://127.0.0.1:{port}/",
        "N8N_EDITOR_BASE_URL": f"http://127.0.0.1:{port}/",
        "DB_TYPE": "sqlite",
        "N8N_SECURE_COOKIE": "false",
        "N8N_DIAGNOSTICS_ENABLED": "false",
        "N8N_VERSION_NOTIFICATIONS_ENABLED": "false",
        "N8N_TEMPLATES_ENABLED": "false",
        "N8N_PERSONALIZATION_ENABLED": "false",
        "N8N_HIRING_BANNER_ENABLED": "false",
        "N8N_COMMUNITY_PACKAGES_ENABLED": "true",
        "N8N_VERIFIED_PACKAGES_ENABLED": "false",
        "N8N_UNVERIFIED_PACKAGES_ENABLED": "true",
        "N8N_AI_ENABLED": "false",
        "N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS": "false",
        "N8N_RUNNERS_ENABLED": "false",
        "N8N_BLOCK_ENV_ACCESS_IN_NODE": "true",
        "N8N_LOG_LEVEL": "info",
        "EXTERNAL_FRONTEND_HOOKS_URLS": "",
        "N8N_DIAGNOSTICS_CONFIG_FRONTEND": "",
        "N8N_DIAGNOSTICS_CONFIG_BACKEND": "",
        "NODE_ENV": "production",
    }


@contextlib.contextmanager
def running_n8n(script: Path, user_folder: Path, port: int, log: Path) -> Iterator[str]:
    """n8n started with `node <n8n> start`, until `/healthz` answers; its base URL."""
    node = shutil.which("node")
    assert node is not None
    command = [node, str(script), "start"]
    env = environment(user_folder, port)
    with served(
        command,
        port=port,
        cwd=user_folder,
        env=env,
        log=log,
        start_timeout_s=START_TIMEOUT_S,
        stop_timeout_s=30,
        name="n8n",
    ) as (url, _process):
        yield url
