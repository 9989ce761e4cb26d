"""Data at rest: webhook secrets are stored encrypted (older plaintext ones are encrypted at
start and keep signing), a key that cannot open them stops the start with a clear error, and
the data directory and the files in it are private (700 / 600)."""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import stat
import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from tests.conftest import admin_headers, linked_instance, make_settings, running_app
from tests.hardening.processes import WAGATE, serve_env
from tests.hardening.receiver import ThreadReceiver
from wagate.config import Settings
from wagate.db import Database, utcnow
from wagate.engines.base import InstanceRef
from wagate.engines.whatsmeow.store import device_store
from wagate.models import WebhookDelivery
from wagate.secretbox import KEY_FILE, PREFIX, SecretKeyError, generate_key
from wagate.webhooks import repository
from wagate.webhooks.delivery import DeliveryWorker
from wagate.webhooks.outbox import INSTANCE_TARGET, delivery_row

SECRET = "whsec-at-rest-" + uuid.uuid4().hex
ROTATED = "whsec-rotated-" + uuid.uuid4().hex


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://wagate.test",
        headers=admin_headers(),
        timeout=30,
    )


async def _stored_webhook(app: FastAPI, name: str) -> str:
    async with app.state.wagate.db.session() as session:
        value = await session.scalar(
            text("SELECT CAST(webhook AS TEXT) FROM instances WHERE name = :name"), {"name": name}
        )
    assert value is not None
    return str(value)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def receiver() -> Any:
    found = ThreadReceiver(SECRET).start()
    yield found
    found.stop()


def _fast(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    return make_settings(
        database_url,
        data_dir,
        webhook_retry_base_delay_s=0.05,
        webhook_poll_interval_s=0.05,
        **overrides,
    )


async def _wait_event(receiver: ThreadReceiver, event: str, timeout: float = 15) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not any(e["event"] == event for e in receiver.snapshot()):
        assert asyncio.get_running_loop().time() < deadline, f"no signed {event} delivery"
        await asyncio.sleep(0.05)


async def test_webhook_secrets_are_stored_encrypted(
    database_url: str, tmp_path: Path, receiver: ThreadReceiver
) -> None:
    settings = _fast(database_url, tmp_path / "data")
    async with running_app(settings) as app, _client(app) as client:
        created = await linked_instance(client, webhook={"url": receiver.url, "secret": SECRET})
        name = created["name"]
        stored = await _stored_webhook(app, name)
        assert SECRET not in stored and PREFIX in stored
        put = await client.put(
            f"/v1/instances/{name}/webhook", json={"url": receiver.url, "secret": ROTATED}
        )
        assert put.status_code == 200, put.text
        stored = await _stored_webhook(app, name)
        assert ROTATED not in stored and PREFIX in stored
        # Deliveries are signed with the secret itself, not its stored form.
        receiver.secret = ROTATED
        inbound = await client.post(
            f"/v1/instances/{name}/simulator/inbound", json={"from": "4915112345678", "text": "x"}
        )
        assert inbound.status_code == 200, inbound.text
        await _wait_event(receiver, "message_received")
        # A delivery of an event from before the rotation may still carry the old secret;
        # the message's own, made after it, never does.
        assert "message_received" not in receiver.badly_signed
    if settings.is_sqlite:
        database = Path(settings.effective_database_url.split("///", 1)[1])
        for path in [database, *database.parent.glob(database.name + "-*")]:
            raw = path.read_bytes()
            assert SECRET.encode() not in raw and ROTATED.encode() not in raw, path


async def test_plaintext_secrets_of_an_older_database_are_encrypted_at_start(
    database_url: str, tmp_path: Path, receiver: ThreadReceiver
) -> None:
    settings = _fast(database_url, tmp_path / "data")
    async with running_app(settings) as app, _client(app) as client:
        name = (await linked_instance(client))["name"]
        # As an older version stored it: the secret in plaintext.
        async with app.state.wagate.db.transaction() as session:
            await session.execute(
                text("UPDATE instances SET webhook = :webhook WHERE name = :name"),
                {
                    "name": name,
                    "webhook": f'{{"url": "{receiver.url}", "events": null, "secret": "{SECRET}"}}',
                },
            )
    async with running_app(settings) as app, _client(app) as client:
        stored = await _stored_webhook(app, name)
        assert SECRET not in stored and PREFIX in stored
        assert (await client.post(f"/v1/instances/{name}/connect")).status_code in (200, 202)
        for _ in range(200):
            if (await client.get(f"/v1/instances/{name}")).json()["status"] == "connected":
                break
            await asyncio.sleep(0.05)
        inbound = await client.post(
            f"/v1/instances/{name}/simulator/inbound", json={"from": "4915112345678", "text": "x"}
        )
        assert inbound.status_code == 200, inbound.text
        await _wait_event(receiver, "message_received")  # still signed with the same secret
        assert receiver.bad_signatures == 0
    if settings.is_sqlite:  # nor is the old plaintext left behind in the file's free space
        database = Path(settings.effective_database_url.split("///", 1)[1])
        for path in [database, *database.parent.glob(database.name + "-*")]:
            assert SECRET.encode() not in path.read_bytes(), path


async def test_a_key_that_cannot_open_the_secrets_stops_the_start(
    sqlite_url: str, tmp_path: Path
) -> None:
    first = _fast(sqlite_url, tmp_path / "data", secret_key=generate_key())
    async with running_app(first) as app, _client(app) as client:
        created = await client.post(
            "/v1/instances",
            json={
                "name": "keyed",
                "engine": "simulator",
                "webhook": {"url": "http://127.0.0.1:9/hook", "secret": SECRET},
            },
        )
        assert created.status_code == 201, created.text
    other = _fast(sqlite_url, tmp_path / "data", secret_key=generate_key())
    with pytest.raises(SecretKeyError, match=r"WAGATE_SECRET_KEY.*keyed"):
        async with running_app(other):
            pass
    # Unset, or set empty: the data directory's own key file, which is not the key either.
    for unset in (
        _fast(sqlite_url, tmp_path / "data"),
        _fast(sqlite_url, tmp_path / "data", secret_key=""),
    ):
        with pytest.raises(SecretKeyError, match=KEY_FILE):
            async with running_app(unset):
                pass
    malformed = _fast(sqlite_url, tmp_path / "data", secret_key="not-a-key")
    with pytest.raises(SecretKeyError, match="WAGATE_SECRET_KEY is not a valid key"):
        async with running_app(malformed):
            pass
    async with running_app(first):  # the right key still starts
        pass


async def test_a_node_without_the_key_leaves_the_delivery_to_one_with_it(
    sqlite_url: str, tmp_path: Path, receiver: ThreadReceiver, capfd: pytest.CaptureFixture[str]
) -> None:
    """A node started before another stored a secret with a different key (a cluster whose
    nodes do not share WAGATE_SECRET_KEY): it cannot sign, so it says so and neither posts
    unsigned nor fails the delivery; a node with the key delivers it."""
    keyed = _fast(sqlite_url, tmp_path / "data", secret_key=generate_key())
    async with running_app(keyed) as app, _client(app) as client:
        created = await client.post(
            "/v1/instances",
            json={
                "name": "k",
                "engine": "simulator",
                "webhook": {"url": receiver.url, "secret": SECRET},
            },
        )
        assert created.status_code == 201, created.text
        async with app.state.wagate.db.session() as session:
            instance_id = await session.scalar(text("SELECT id FROM instances WHERE name = 'k'"))
    row = delivery_row(
        event_id="evt-1",
        event="message_received",
        instance_id=instance_id,
        url=receiver.url,
        target=INSTANCE_TARGET,
        payload='{"event": "message_received", "instance": "k", "data": {}}',
    )
    db = Database(sqlite_url)
    try:
        async with db.transaction() as session:
            await repository.insert_deliveries(session, [row])
        capfd.readouterr()
        other = DeliveryWorker(_fast(sqlite_url, tmp_path / "data", secret_key=generate_key()), db)
        try:
            assert await other.claim_batch(10) == 1
            await asyncio.sleep(0.3)  # nothing is posted, nothing is written
        finally:
            await other.sender.aclose()
        logged = capfd.readouterr().err
        assert "webhook secret not readable here" in logged
        assert "every node of a cluster needs the same WAGATE_SECRET_KEY" in logged
        assert receiver.snapshot() == [] and receiver.bad_signatures == 0
        async with db.transaction() as session:
            stored = await session.get(WebhookDelivery, row["id"])
            assert stored is not None
            assert stored.status == "pending" and stored.attempts == 0
            stored.claimed_until = utcnow()  # as when the claim's lease runs out
        worker = DeliveryWorker(keyed, db)
        await worker.start()
        try:
            await _wait_event(receiver, "message_received")
        finally:
            await worker.stop()
        assert receiver.bad_signatures == 0
    finally:
        await db.close()


async def test_the_data_directory_and_its_files_are_private(
    sqlite_template: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)  # as an older version (or a umask of 022) left it
    database = data / "wagate.db"
    shutil.copy(sqlite_template, database)
    os.chmod(database, 0o644)
    (data / "whatsmeow").mkdir()
    os.chmod(data / "whatsmeow", 0o755)
    old_store = data / "whatsmeow" / "1.sqlite3"
    old_store.write_bytes(b"")
    os.chmod(old_store, 0o644)
    someone_elses = data / "notes.txt"  # not the gateway's: left as it is
    someone_elses.write_text("x")
    os.chmod(someone_elses, 0o644)
    settings = make_settings(f"sqlite+aiosqlite:///{database}", data)
    async with running_app(settings) as app, _client(app) as client:
        created = await client.post("/v1/instances", json={"name": "p", "engine": "simulator"})
        assert created.status_code == 201, created.text
        assert _mode(data) == 0o700
        assert _mode(data / "whatsmeow") == 0o700
        assert _mode(old_store) == 0o600
        assert _mode(someone_elses) == 0o644
        assert _mode(data / KEY_FILE) == 0o600
        side_files = [database.with_name(database.name + end) for end in ("-wal", "-shm")]
        for path in [database, *side_files]:
            assert path.exists() and _mode(path) == 0o600, path
        # A new device store is created private before whatsmeow opens it.
        store = Path(device_store(app.state.wagate.settings, InstanceRef(2, "p")).dsn)
        assert _mode(store) == 0o600


def test_wagate_migrate_makes_a_private_data_directory(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = serve_env(f"sqlite+aiosqlite:///{data / 'wagate.db'}", data)
    done = subprocess.run(
        [WAGATE, "migrate"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
        text=True,
        preexec_fn=lambda: os.umask(0o022),  # the usual umask: files 644, directories 755
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert _mode(data) == 0o700
    assert _mode(data / "wagate.db") == 0o600
    probe = sqlite3.connect(data / "wagate.db")
    try:
        assert probe.execute("SELECT count(*) FROM instances").fetchone() == (0,)
    finally:
        probe.close()
