"""`WAGATE_WORKER_PROCESS`: one `wagate serve` on PostgreSQL + Redis serves the API itself and
holds its instances in a child process it supervises: sends go through, the child is started
again when it dies (and takes the instances back), and stops with the parent."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from tests.support.polling import eventually

from .cluster_support import NodeProcess, link, running_cluster

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis]
TO = "+5511999912345"


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return []
    return [int(child) for child in text.split()]


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


async def holder_of(node: NodeProcess, name: str) -> str | None:
    found = (await node.http.get(f"/v1/instances/{name}")).json()
    return found["node"] if found["status"] == "connected" else None


async def sync_send(node: NodeProcess, name: str, text: str) -> httpx.Response:
    return await node.http.post(f"/v1/instances/{name}/send/text", json={"to": TO, "text": text})


async def queue(node: NodeProcess, text: str) -> str:
    answer = await node.http.post(
        "/v1/instances/w/send/text?async=true", json={"to": TO, "text": text}
    )
    assert answer.status_code == 202, answer.text
    return str(answer.json()["correlation_id"])


def sent(node: NodeProcess, correlation_id: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        record = await node.http.get(f"/v1/instances/w/messages/{correlation_id}")
        return record.json()["status"] in ("sent", "delivered", "read")

    return check


async def test_one_serve_holds_its_instances_in_a_supervised_child(
    postgres_url: str, tmp_path: Path
) -> None:
    async with running_cluster(postgres_url, tmp_path) as cluster:
        node = await cluster.start("solo", WAGATE_WORKER_PROCESS="true")

        async def child() -> int | None:
            found = [pid for pid in children(node.popen.pid) if alive(pid)]
            return found[0] if found else None

        first = await eventually(child, timeout=60, what="the worker process")

        async def holder_up() -> bool:
            # The parent answers at once; what runs on the holder waits for the child.
            nodes = await node.http.get("/v1/instances")
            return nodes.status_code == 200 and (
                await node.http.post("/v1/instances", json={"name": "w", "engine": "simulator"})
            ).status_code in (201, 409)

        await eventually(holder_up, timeout=60, what="the API")
        await node.http.delete("/v1/instances/w")

        async def linked() -> bool:
            try:
                await link(node.http, "w", timeout=10)
            except AssertionError:
                await node.http.delete("/v1/instances/w")
                return False
            return True

        await eventually(linked, timeout=90, interval=1, what="the instance linked")
        assert await holder_of(node, "w") == "solo-worker"  # the child holds it, not the API
        answer = await sync_send(node, "w", "through the child")
        assert answer.status_code == 200 and answer.json()["status"] == "sent", answer.text
        await eventually(sent(node, await queue(node, "queued")), timeout=30, what="sent")

        # Killed outright, the child is started again and takes the instance back.
        os.kill(first, 9)

        async def second() -> int | None:
            pid = await child()
            return pid if pid is not None and pid != first else None

        restarted = await eventually(second, timeout=60, what="a new worker process")

        # Queued while no node holds the instance: sent once the new child took it.
        after = await queue(node, "after the restart")
        await eventually(sent(node, after), timeout=90, interval=0.5, what="sent after the restart")
        assert await holder_of(node, "w") == "solo-worker"

        # SIGTERM to the parent stops both, cleanly.
        assert node.terminate() == 0
        assert not alive(restarted)
        # Both keep received media in the one data directory: no warning of a store per node.
        assert "cluster mode with media" not in node.log.read_text(errors="replace")
