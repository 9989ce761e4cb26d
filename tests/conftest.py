"""Shared fixtures: real SQLite and PostgreSQL databases, the app in-process, a live server.

PostgreSQL and Redis are real servers (127.0.0.1:5432 and :6379 unless WAGATE_TEST_PG_URL /
WAGATE_TEST_REDIS_URL say otherwise). When one is unreachable the tests that need it FAIL:
`.ci/run` starts them first.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from tests.support.hang_dump import HangWatchdog, threshold
from tests.support.polling import eventually
from tests.support.s3 import S3Server, start_s3_server, stop_s3_server
from wagate.app import create_app
from wagate.config import Settings
from wagate.db import Database
from wagate.migrate import upgrade_to_head

ADMIN_TOKEN = "wga_test_admin_token_0123456789abcdef"
PG_SERVER_URL = os.environ.get("WAGATE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432")
REDIS_URL = os.environ.get("WAGATE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pg_async_url(database: str) -> str:
    return PG_SERVER_URL.replace("postgresql://", "postgresql+asyncpg://", 1) + "/" + database


async def _pg_admin(sql: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(PG_SERVER_URL + "/postgres", timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def _pg_admin_sync(sql: str) -> None:
    asyncio.run(_pg_admin(sql))


# --- hang diagnostic: a test that runs over dumps every thread's and asyncio task's stack ---

_watchdog: HangWatchdog | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _watchdog
    # Output capture is suspended here: fd 2 is still the terminal (or the CI log).
    if _watchdog is None:
        _watchdog = HangWatchdog(os.dup(2))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None]:
    if _watchdog is None:
        return (yield)
    _watchdog.arm(item.nodeid, threshold(item))
    try:
        return (yield)
    finally:
        _watchdog.disarm()


# --- database templates: migrated once per session, copied per test ------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "wagate.db"
    upgrade_to_head(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str]:
    name = f"wagate_tpl_{uuid.uuid4().hex[:10]}"
    try:
        _pg_admin_sync(f'CREATE DATABASE "{name}"')
    except Exception as exc:  # a missing service is a failure, never a skip
        pytest.fail(f"PostgreSQL is not reachable at {PG_SERVER_URL}: {exc}")
    upgrade_to_head(pg_async_url(name))
    yield name
    _pg_admin_sync(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "wagate.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def postgres_url(pg_template: str) -> Iterator[str]:
    name = f"wagate_t_{uuid.uuid4().hex[:12]}"
    _pg_admin_sync(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    yield pg_async_url(name)
    _pg_admin_sync(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Runs the test once on SQLite and once on PostgreSQL."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A migrated database of each kind (see `database_url`), closed after the test."""
    database = Database(database_url)
    yield database
    await database.close()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """moto's S3 server, one process for the session (each test takes a bucket of its own)."""
    server = start_s3_server()
    yield server
    stop_s3_server(server)


@pytest.fixture(scope="session")
def redis_url() -> str:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_timeout=3)
    try:
        client.ping()
    except Exception as exc:
        pytest.fail(f"Redis is not reachable at {REDIS_URL}: {exc}")
    finally:
        client.close()
    return REDIS_URL


# --- the app -------------------------------------------------------------------------------


def make_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "data_dir": data_dir,
        "admin_token": ADMIN_TOKEN,
        "engine": "simulator",
        "node_id": f"test-{uuid.uuid4().hex[:6]}",
        "simulator_qr_interval_s": 1.0,
        "simulator_pair_code_delay_s": 0.2,
        "simulator_receipt_delay_ms": 20,
        "reconnect_base_delay_s": 0.05,
        "reconnect_max_delay_s": 0.5,
        "sse_keepalive_s": 1.0,
        "log_level": "warning",
        # The tests' webhook receivers listen on 127.0.0.1, which the address guard refuses
        # by default (tests/integration/webhooks/test_address_guard.py checks that).
        "allow_private_webhook_urls": True,
        # A whatsmeow host dials WhatsApp through this: nothing listens there, so every dial is
        # refused at once on loopback and no test makes a connection (not even a DNS lookup)
        # beyond it. Tests that need a dial to hang set a black-hole proxy instead.
        "whatsmeow_proxy": "socks5://127.0.0.1:1",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to change the app's settings."""
    return {}


@pytest.fixture
def settings(database_url: str, tmp_path: Path, settings_overrides: dict[str, Any]) -> Settings:
    return make_settings(database_url, tmp_path / "data", **settings_overrides)


@contextlib.asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[FastAPI]:
    app = create_app(settings, run_migrations=False)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    async with running_app(settings) as application:
        yield application


def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An admin client talking to the app in-process."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://wagate.test", headers=admin_headers(), timeout=30
    ) as http:
        yield http


@contextlib.asynccontextmanager
async def live_server(app: FastAPI, port: int | None = None) -> AsyncIterator[str]:
    """Serve an app (already started) over real HTTP on loopback; yields its base URL."""
    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_config=None)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@pytest.fixture
async def base_url(app: FastAPI) -> AsyncIterator[str]:
    async with live_server(app) as url:
        yield url


# --- helpers -------------------------------------------------------------------------------


def unique_name(prefix: str = "inst") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def create_instance(
    client: httpx.AsyncClient, name: str | None = None, **body: Any
) -> dict[str, Any]:
    body.setdefault("engine", "simulator")
    response = await client.post("/v1/instances", json={"name": name or unique_name(), **body})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def wait_status(
    client: httpx.AsyncClient, name: str, status: str, timeout: float = 10.0
) -> dict[str, Any]:
    last: dict[str, Any] = {}

    async def reached() -> dict[str, Any] | None:
        last.clear()
        last.update((await client.get(f"/v1/instances/{name}")).json())
        return dict(last) if last.get("status") == status else None

    return await eventually(
        reached, timeout=timeout, interval=0.02, what=f"{name} {status}", seen=lambda: last
    )


async def linked_instance(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    """A simulator instance, connected and linked through the scan route."""
    created = await create_instance(client, **body)
    name = created["name"]
    assert (await client.post(f"/v1/instances/{name}/connect")).status_code == 202
    await wait_status(client, name, "pairing")
    response = await client.post(f"/v1/instances/{name}/simulator/scan", json={})
    assert response.status_code == 204, response.text
    connected = await wait_status(client, name, "connected")
    return {**created, **connected}
