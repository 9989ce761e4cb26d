"""Real gateway processes for the cluster tests: a private redis-server, nodes started with
`python -m wagate serve`, killed with SIGKILL or stopped with SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.conftest import ADMIN_TOKEN, free_port
from tests.support.redis_server import private_redis

ROOT = Path(__file__).resolve().parents[2]

# Small timings: a lease lives 2 s, so a failover takes a few seconds.
CLUSTER_ENV = {
    "WAGATE_LEASE_TTL_S": "2",
    "WAGATE_LEASE_RENEW_INTERVAL_S": "0.5",
    "WAGATE_HEARTBEAT_INTERVAL_S": "0.5",
    "WAGATE_PLACEMENT_INTERVAL_S": "0.3",
    "WAGATE_RECONNECT_BASE_DELAY_S": "0.05",
    "WAGATE_RECONNECT_MAX_DELAY_S": "0.5",
    "WAGATE_SIMULATOR_QR_INTERVAL_S": "5",
    "WAGATE_SIMULATOR_RECEIPT_DELAY_MS": "20",
    "WAGATE_RATE_LIMIT_PER_S": "0",
    "WAGATE_LOG_LEVEL": "warning",
}


@dataclass
class NodeProcess:
    node_id: str
    url: str
    popen: subprocess.Popen[bytes]
    log: Path
    http: httpx.AsyncClient = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.AsyncClient(
            base_url=self.url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=30
        )

    def kill(self) -> None:
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(10)

    def terminate(self, timeout: float = 60) -> int:
        self.popen.send_signal(signal.SIGTERM)
        return self.popen.wait(timeout)

    def tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


class Cluster:
    """Starts nodes on one database and one Redis; stops whatever is left at the end."""

    def __init__(self, database_url: str, redis_url: str, workdir: Path, **env: str) -> None:
        self.database_url = database_url
        self.redis_url = redis_url
        self.workdir = workdir
        self.env = env
        self.nodes: list[NodeProcess] = []

    async def start(self, node_id: str, module: str = "wagate", **env: str) -> NodeProcess:
        """A node running `python -m <module> serve` (a test's wrapper of wagate's CLI, run from
        the repository, or wagate itself)."""
        port = free_port()
        data_dir = self.workdir / node_id
        data_dir.mkdir(parents=True, exist_ok=True)
        values = {
            **CLUSTER_ENV,
            "WAGATE_DATABASE_URL": self.database_url,
            "WAGATE_REDIS_URL": self.redis_url,
            "WAGATE_ADMIN_TOKEN": ADMIN_TOKEN,
            "WAGATE_ENGINE": "simulator",
            "WAGATE_DATA_DIR": str(data_dir),
            "WAGATE_NODE_ID": node_id,
            **self.env,
            **env,
        }
        base = {k: v for k, v in os.environ.items() if not k.startswith("WAGATE_")}
        if module != "wagate":
            base["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), base.get("PYTHONPATH")]))
        log = self.workdir / f"{node_id}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                [sys.executable, "-m", module, "serve", "--port", str(port)],
                env={**base, **values},
                cwd=data_dir,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        node = NodeProcess(node_id, f"http://127.0.0.1:{port}", popen, log)
        self.nodes.append(node)
        deadline = time.monotonic() + 60
        while True:
            if popen.poll() is not None:
                raise RuntimeError(f"node {node_id} exited:\n{node.tail()}")
            try:
                if (await node.http.get("/healthz", timeout=1)).status_code == 200:
                    return node
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"node {node_id} did not come up:\n{node.tail()}")
            await asyncio.sleep(0.1)

    async def close(self) -> None:
        for node in self.nodes:
            await node.http.aclose()
            if node.popen.poll() is None:
                node.popen.send_signal(signal.SIGTERM)
        for node in self.nodes:
            try:
                node.popen.wait(30)
            except subprocess.TimeoutExpired:
                node.popen.kill()
                node.popen.wait()


async def link(http: httpx.AsyncClient, name: str, timeout: float = 60) -> None:
    """Create a simulator instance and link it by scanning its QR code. Under heavy load a
    lease can move while the instance waits for its scan (a new node shows a new QR code), so
    the scan is repeated until the instance is connected, as a user would scan again."""
    response = await http.post("/v1/instances", json={"name": name, "engine": "simulator"})
    assert response.status_code == 201, response.text
    assert (await http.post(f"/v1/instances/{name}/connect")).status_code == 202
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = (await http.get(f"/v1/instances/{name}")).json()["status"]
        if status == "connected":
            return
        if status == "pairing":
            await http.post(f"/v1/instances/{name}/simulator/scan", json={})
        elif status == "disconnected":
            await http.post(f"/v1/instances/{name}/connect")
        await asyncio.sleep(0.1)
    raise AssertionError(f"{name} was not linked within {timeout} s")


@asynccontextmanager
async def running_cluster(database_url: str, workdir: Path, **env: str) -> AsyncIterator[Cluster]:
    """A Cluster on its own private redis-server; every node stopped and Redis gone after."""
    with private_redis(workdir) as redis_url:
        nodes = Cluster(database_url, redis_url, workdir, **env)
        try:
            yield nodes
        finally:
            await nodes.close()
