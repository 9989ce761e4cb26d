"""Fixtures of the hardening tests: a real `wagate serve` node shared by a module."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hardening.processes import Node, serve_env


@pytest.fixture(scope="module")
def fuzz_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    """A node on a fresh SQLite file: simulator engine, short timeouts, no rate limit and no
    limit on failed authentications (the fuzzer would otherwise spend its examples on 429s)."""
    workdir: Path = tmp_path_factory.mktemp("fuzz")
    env = serve_env(
        f"sqlite+aiosqlite:///{workdir / 'wagate.db'}",
        workdir / "data",
        rate_limit_per_s=0,
        auth_failure_rate_per_s=0,
        sync_timeout_s=2,
        media_download_timeout_s=2,
        webhook_timeout_s=1,
        webhook_max_attempts=2,
        node_id=f"fuzz-{uuid.uuid4().hex[:6]}",
        log_level="warning",
    )
    with Node(env, workdir) as node:
        yield node
