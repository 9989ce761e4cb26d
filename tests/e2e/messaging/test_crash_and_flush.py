"""Nothing lost: a node killed with SIGKILL mid-queue, and Redis flushed with messages queued."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import func, select

from tests.conftest import ADMIN_TOKEN, admin_headers, free_port, make_settings, running_app
from tests.integration.messaging.conftest import redis_keys
from tests.support.polling import eventually
from tests.support.redis_server import private_redis
from wagate.db import Database
from wagate.models import Message, SimulatorOutbox

pytestmark = pytest.mark.e2e
TO = "5511987654321"
OPEN = ("queued", "sending")
INSTANCES = 5


def start_node(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "wagate", "serve", "--port", str(port)],
        env={**os.environ, **env},
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


async def wait_ready(base: str, timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    async with httpx.AsyncClient() as http:
        while asyncio.get_running_loop().time() < deadline:
            try:
                if (await http.get(base + "/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError(f"{base} never became ready")


async def link(http: httpx.AsyncClient, name: str) -> None:
    assert (
        await http.post("/v1/instances", json={"name": name, "engine": "simulator"})
    ).status_code == 201
    assert (await http.post(f"/v1/instances/{name}/connect")).status_code == 202

    async def scanned() -> bool:
        return (await http.post(f"/v1/instances/{name}/simulator/scan", json={})).status_code == 204

    await eventually(scanned, timeout=10, what="pairing")

    async def connected() -> bool:
        return (await http.get(f"/v1/instances/{name}")).json()["status"] == "connected"

    await eventually(connected, timeout=10, what="connected")


async def queue_texts(http: httpx.AsyncClient, name: str, texts: list[str]) -> None:
    for start in range(0, len(texts), 1000):
        items = [{"kind": "text", "to": TO, "text": t} for t in texts[start : start + 1000]]
        response = await http.post(
            f"/v1/instances/{name}/send/batch?async=true", json={"messages": items}
        )
        assert response.status_code == 202, response.text
        assert all("correlation_id" in r for r in response.json()["results"])


async def tally(db: Database, texts: list[str]) -> tuple[int, int, int]:
    """(messages still open, texts never delivered, duplicate deliveries)."""
    async with db.session() as session:
        still_open = (
            await session.execute(select(func.count()).where(Message.status.in_(OPEN)))
        ).scalar_one()
        bodies = (await session.execute(select(SimulatorOutbox.body))).scalars().all()
    delivered = Counter(body.get("text") for body in bodies)
    lost = sum(1 for t in texts if delivered[t] == 0)
    duplicates = sum(count - 1 for count in delivered.values() if count > 1)
    return int(still_open), lost, duplicates


@pytest.fixture(params=["local", "redis"])
def queue_env(request: pytest.FixtureRequest) -> dict[str, str]:
    if request.param == "local":
        return {}
    url: str = request.getfixturevalue("redis_url")
    keys = redis_keys(f"wgkill:{uuid.uuid4().hex[:8]}:")
    return {"WAGATE_REDIS_URL": url, **{f"WAGATE_{k.upper()}": str(v) for k, v in keys.items()}}


async def test_sigkill_mid_queue_loses_nothing(
    database_url: str, tmp_path: Path, queue_env: dict[str, str]
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "WAGATE_DATABASE_URL": database_url,
        "WAGATE_DATA_DIR": str(tmp_path / "data"),
        "WAGATE_ADMIN_TOKEN": ADMIN_TOKEN,
        "WAGATE_ENGINE": "simulator",
        "WAGATE_LOG_LEVEL": "warning",
        "WAGATE_QUEUE_CLAIM_IDLE_MS": "500",
        "WAGATE_RECONCILE_INTERVAL_S": "1",
        "WAGATE_RECONCILE_GRACE_S": "1",
        "WAGATE_SEND_RETRY_BASE_S": "0.05",
        **queue_env,
    }
    names = [f"kill{i}" for i in range(INSTANCES)]
    texts = [f"k{i:04d}" for i in range(2000)]
    db = Database(database_url)
    log = tmp_path / "node.log"
    first = start_node({**env, "WAGATE_NODE_ID": "node-a"}, port, log)
    second: subprocess.Popen[bytes] | None = None
    try:
        await wait_ready(base)
        async with httpx.AsyncClient(base_url=base, headers=admin_headers(), timeout=60) as http:
            faults = {"send_latency_ms": 3}
            for name in names:
                await link(http, name)
                assert (
                    await http.post(f"/v1/instances/{name}/simulator/faults", json=faults)
                ).status_code < 300
            share = len(texts) // INSTANCES
            await asyncio.gather(
                *(
                    queue_texts(http, name, texts[i * share : (i + 1) * share])
                    for i, name in enumerate(names)
                )
            )

        async def some_sent() -> bool:
            async with db.session() as session:
                sent = (await session.execute(select(func.count(SimulatorOutbox.id)))).scalar_one()
            return int(sent) >= 300

        await eventually(some_sent, timeout=60, what="the first sends")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        open_after_kill, _, _ = await tally(db, texts)
        assert open_after_kill > 0, "the kill came too late to test anything"
        second = start_node({**env, "WAGATE_NODE_ID": "node-b"}, port, log)
        await wait_ready(base)

        async def drained() -> bool:
            return (await tally(db, texts))[0] == 0

        await eventually(drained, timeout=180, what="every message final")
        still_open, lost, duplicates = await tally(db, texts)
        print(
            f"\nSIGKILL mid-queue: 2000 messages, {open_after_kill} open at the kill, "
            f"{lost} lost, {duplicates} duplicate deliveries"
        )
        async with db.session() as session:
            failed = (
                await session.execute(select(func.count()).where(Message.status == "failed"))
            ).scalar_one()
        assert (still_open, lost, failed) == (0, 0, 0)
        # Only a message whose engine call was in flight at the kill is ambiguous: at most
        # one per instance is sent again.
        assert duplicates <= INSTANCES
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
        await db.close()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[str]:
    """A private redis-server: this test flushes it."""
    with private_redis(tmp_path) as url:
        yield url


@asynccontextmanager
async def app_client(settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(settings) as app:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://t", headers=admin_headers(), timeout=60
        ) as http:
            yield http


async def test_flushall_with_messages_queued(
    database_url: str, tmp_path: Path, own_redis: str
) -> None:
    settings = make_settings(
        database_url,
        tmp_path / "data",
        redis_url=own_redis,
        **redis_keys("wgflush:"),
        reconcile_interval_s=0.3,
        reconcile_grace_s=0.5,
        queue_claim_idle_ms=500,
    )
    texts = [f"f{i:03d}" for i in range(300)]
    db = Database(database_url)
    try:
        async with app_client(settings) as http:
            await link(http, "flush")
            faults = {"send_latency_ms": 10}
            assert (
                await http.post("/v1/instances/flush/simulator/faults", json=faults)
            ).status_code < 300
            await queue_texts(http, "flush", texts)

            async def some_sent() -> bool:
                return (await tally(db, texts))[0] < 250

            await eventually(some_sent, timeout=30, what="the first sends")
            flusher = redis.Redis.from_url(own_redis)
            flusher.flushall()
            flusher.close()
            open_at_flush = (await tally(db, texts))[0]
            assert open_at_flush > 0

            async def drained() -> bool:
                return (await tally(db, texts))[0] == 0

            await eventually(drained, timeout=60, what="every message final after FLUSHALL")
            _, lost, duplicates = await tally(db, texts)
            print(
                f"\nFLUSHALL: {open_at_flush} open at the flush, {lost} lost, "
                f"{duplicates} duplicates"
            )
            assert lost == 0
    finally:
        await db.close()
