"""The `wagate` command at start and `wagate admin-token`: a short WAGATE_ADMIN_TOKEN is refused,
an unknown WAGATE_* variable is warned about by name, the generated token can be printed again
and rotated."""

from __future__ import annotations

import asyncio
import stat
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_serve import WAGATE, Node, base_env, generated_token

pytestmark = pytest.mark.e2e


def wagate(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(WAGATE), *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_a_short_admin_token_is_refused_before_anything_starts(tmp_path: Path) -> None:
    short = "wga_test_admin_token_012345678"  # 30 characters
    env = {**base_env(tmp_path), "WAGATE_ADMIN_TOKEN": short}
    done = wagate(env, "serve", "--port", "1")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "WAGATE_ADMIN_TOKEN is 30 characters long; it must have at least 32" in done.stderr
    assert short not in done.stdout + done.stderr
    assert not (tmp_path / "data" / "wagate.db").exists()  # refused before the migrations


async def test_an_unknown_setting_is_warned_about_by_name(tmp_path: Path) -> None:
    env = {
        **base_env(tmp_path),
        "WAGATE_ADMIN_TOKEN": "wga_e2e_typo_token_0123456789abcdef",
        "WAGATE_WEBHOOK_SECRETT": "value-of-the-typo",  # misspelt WAGATE_WEBHOOK_SECRET
    }
    node = Node(tmp_path, env, 1)
    try:
        await node.wait_ready()
        assert await node.terminate() < 10
    finally:
        node.kill()
    warnings = [line for line in node.stderr.splitlines() if "WAGATE_WEBHOOK_SECRETT" in line]
    assert len(warnings) == 1 and "unknown" in warnings[0], node.output
    assert "value-of-the-typo" not in node.output
    # real settings are not reported
    assert "WAGATE_ADMIN_TOKEN" not in node.stderr and "WAGATE_DATA_DIR" not in node.stderr


async def test_admin_token_command_prints_and_rotates_the_generated_token(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    token_file = tmp_path / "data" / "admin-token"
    node = Node(tmp_path, env, 1)
    try:
        await node.wait_ready()
        first = generated_token(node.stderr)
        assert f"It is also in {token_file}" in node.stderr
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600

        shown = wagate(env, "admin-token")
        assert shown.returncode == 0 and shown.stdout.strip() == first

        # Rotated while the node runs: it takes the new token and refuses the old one.
        rotated = wagate(env, "admin-token", "--rotate")
        assert rotated.returncode == 0, rotated.stderr
        second = rotated.stdout.strip()
        assert second.startswith("wga_") and second != first
        assert token_file.read_text().strip() == second
        assert wagate(env, "admin-token").stdout.strip() == second
        async with httpx.AsyncClient(base_url=node.url, timeout=10) as http:

            async def answers() -> tuple[int, int]:
                new = await http.get("/v1/instances", headers={"X-Api-Key": second})
                old = await http.get("/v1/instances", headers={"X-Api-Key": first})
                return new.status_code, old.status_code

            deadline = time.monotonic() + 10
            while await answers() != (200, 401):
                assert time.monotonic() < deadline, await answers()
                await asyncio.sleep(0.2)
        assert await node.terminate() < 10
    finally:
        node.kill()
    assert second not in node.output  # the node never logs the token it adopted

    # A lost file: the command says how to get a new token; a configured token is not rotated.
    token_file.unlink()
    lost = wagate(env, "admin-token")
    assert lost.returncode == 2 and "--rotate" in lost.stderr
    chosen = {**env, "WAGATE_ADMIN_TOKEN": "wga_e2e_chosen_token_0123456789abcdef"}
    refused = wagate(chosen, "admin-token", "--rotate")
    assert refused.returncode == 2 and "WAGATE_ADMIN_TOKEN" in refused.stderr
