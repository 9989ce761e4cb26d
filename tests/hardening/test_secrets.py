"""Secrets: tokens are stored hashed, webhook secrets never come back from the API, and a
full scenario at DEBUG leaves no token, webhook secret or password in any log line, in
process (stdlib and structlog) and in a real `wagate serve` process."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import sqlite3
import subprocess
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import live_server, make_settings, running_app
from tests.hardening.processes import WAGATE, Node, linked, serve_env
from tests.hardening.receiver import ThreadReceiver
from tests.support.polling import eventually_sync

GLOBAL_SECRET = "whsec-global-" + uuid.uuid4().hex
HOOK_SECRET = "whsec-instance-" + uuid.uuid4().hex
NEW_SECRET = "whsec-rotated-" + uuid.uuid4().hex
URL_PASSWORD = "urlpw-" + uuid.uuid4().hex  # basic-auth credentials in a webhook URL


def scenario(url: str, admin_token: str, receiver: ThreadReceiver) -> dict[str, Any]:
    """Create, link, send, webhook with a secret, inbound, token rotation, a wrong token;
    returns every secret it saw, and checks on the way that none comes back from the API."""
    seen: dict[str, Any] = {"admin": admin_token}
    admin = {"Authorization": f"Bearer {admin_token}"}
    with httpx.Client(base_url=url, headers=admin, timeout=30) as http:
        name = f"sec-{uuid.uuid4().hex[:6]}"
        token = linked(http, name, webhook={"url": receiver.url, "secret": HOOK_SECRET})
        seen["token"] = token
        # X-Api-Key only (the client's admin Authorization header blanked out).
        mine = {"X-Api-Key": token, "Authorization": ""}
        sent = http.post(
            f"/v1/instances/{name}/send/text",
            json={"to": "+49 151 1234567", "text": "hi"},
            headers=mine,
        )
        assert sent.status_code == 200, sent.text
        with_password = receiver.url.replace("http://", f"http://hook:{URL_PASSWORD}@")
        put = http.put(
            f"/v1/instances/{name}/webhook",
            json={"url": with_password, "secret": NEW_SECRET},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert put.status_code == 200, put.text
        receiver.secret = NEW_SECRET
        inbound = http.post(
            f"/v1/instances/{name}/simulator/inbound", json={"from": "4915112345678", "text": "yo"}
        )
        assert inbound.status_code == 200, inbound.text
        eventually_sync(
            lambda: any(e["event"] == "message_received" for e in receiver.snapshot()),
            timeout=15,
            what="a signed message_received delivery",
        )
        # Every read of the instance and its webhook: the secret never comes back.
        answers = [
            put,
            http.get(f"/v1/instances/{name}/webhook"),
            http.get(f"/v1/instances/{name}"),
            http.get("/v1/instances"),
            http.get(f"/v1/instances/{name}/webhook/deliveries"),
            http.patch(f"/v1/instances/{name}", json={"settings": {"send_interval_ms": 1}}),
        ]
        for answer in answers:
            assert answer.status_code == 200, answer.text
            # (URL credentials are part of the URL the API gives back: SECURITY.md says so.)
            for secret in (HOOK_SECRET, NEW_SECRET, GLOBAL_SECRET):
                assert secret not in answer.text, answer.request.url
        assert answers[1].json()["secret_set"] is True
        assert http.get(f"/v1/instances/{name}").json()["webhook"]["secret_set"] is True
        rotated = http.post(f"/v1/instances/{name}/token", headers=mine)
        assert rotated.status_code == 200, rotated.text
        seen["rotated"] = rotated.json()["token"]
        assert http.get(f"/v1/instances/{name}", headers=mine).status_code == 401
        wrong = "wgi_" + uuid.uuid4().hex * 2
        seen["wrong"] = wrong
        assert (
            http.get("/v1/instances", headers={"Authorization": f"Bearer {wrong}"}).status_code
            == 401
        )
        created = http.post("/v1/instances", json={"name": f"{name}-2", "engine": "simulator"})
        seen["second"] = created.json()["token"]
    return seen


SECRETS = [HOOK_SECRET, NEW_SECRET, GLOBAL_SECRET, URL_PASSWORD]


def assert_clean(text: str, secrets: list[str]) -> None:
    assert text.strip(), "no log output was captured at all"
    for secret in secrets:
        assert secret not in text, f"a secret ({secret[:6]}…) is in the logs"
    # Nothing that looks like one of our tokens, whoever's it is.
    assert not re.search(r"wg[ai]_[A-Za-z0-9_\-]{20,}", text), "a wagate token is in the logs"


@pytest.fixture
def restore_logging() -> Any:
    """configure_logging (run by the app) changes the root logger: put it back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def receiver() -> Any:
    found = ThreadReceiver(HOOK_SECRET).start()
    yield found
    found.stop()


async def test_no_secret_in_logs_in_process(
    tmp_path: Path,
    sqlite_url: str,
    receiver: ThreadReceiver,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    restore_logging: None,
) -> None:
    from tests.conftest import ADMIN_TOKEN

    settings = make_settings(
        sqlite_url,
        tmp_path / "data",
        log_level="debug",
        log_format="json",
        webhook_url=receiver.url,
        webhook_secret=GLOBAL_SECRET,
        webhook_retry_base_delay_s=0.05,
        webhook_poll_interval_s=0.05,
    )
    async with running_app(settings) as app, live_server(app) as url:
        # configure_logging replaced the root handlers: put pytest's capture back beside them.
        logging.getLogger().addHandler(caplog.handler)
        caplog.set_level(logging.DEBUG)
        seen = await asyncio.to_thread(scenario, url, ADMIN_TOKEN, receiver)
    out, err = capfd.readouterr()
    # The records prove DEBUG was on; the lines written (stdout/stderr) are what must be clean.
    assert len(caplog.records) > 10, "DEBUG logging captured almost nothing"
    assert any(r.levelno == logging.DEBUG for r in caplog.records)
    assert_clean(out + err, [*seen.values(), *SECRETS])


ADMIN_PRINT = re.compile(r"generated an admin token.*?\n\s*(wga_\S+)\n", re.S)


@pytest.mark.e2e
def test_no_secret_in_logs_of_a_real_node(tmp_path: Path, receiver: ThreadReceiver) -> None:
    env = serve_env(
        f"sqlite+aiosqlite:///{tmp_path / 'wagate.db'}",
        tmp_path / "data",
        admin_token=None,
        log_level="debug",
        log_format="console",
        webhook_url=receiver.url,
        webhook_secret=GLOBAL_SECRET,
        webhook_retry_base_delay_s=0.05,
        webhook_poll_interval_s=0.05,
    )
    node = Node(env, tmp_path).start()
    try:
        printed = eventually_sync(
            lambda: ADMIN_PRINT.search(node.stderr_path.read_text()),
            timeout=10,
            what="the admin token printed at start",
        )
        admin_token = printed.group(1)
        seen = scenario(node.url, admin_token, receiver)
    finally:
        # uvicorn re-raises SIGTERM after a clean shutdown, so -15 is a clean stop too.
        assert node.stop() in (0, -15)
    assert "Application shutdown complete" in node.stderr_path.read_text()
    output = node.stdout_path.read_text() + node.stderr_path.read_text()
    # The one-time print (to stderr) is the only place the admin token may appear.
    assert output.count(admin_token) == 1
    logs = output.replace(admin_token, "")
    assert "debug" in logs.lower(), "the node did not log at DEBUG"
    assert_clean(logs, [*seen.values(), *SECRETS])

    # Tokens are stored as SHA-256 hashes only: no token anywhere in the database file.
    db = sqlite3.connect(tmp_path / "wagate.db")
    try:
        hashes = {row[0] for row in db.execute("SELECT token_hash FROM instances")}
        admin_hash = db.execute("SELECT value FROM key_values").fetchall()
    finally:
        db.close()
    assert hashlib.sha256(seen["rotated"].encode()).hexdigest() in hashes
    assert hashlib.sha256(seen["second"].encode()).hexdigest() in hashes
    assert (hashlib.sha256(admin_token.encode()).hexdigest(),) in admin_hash
    raw = (tmp_path / "wagate.db").read_bytes()
    for key in ("admin", "token", "rotated", "second"):
        assert seen[key].encode() not in raw
    # Webhook secrets are stored encrypted: neither the database nor a side file it may have
    # left (a WAL not yet folded back) holds one in plaintext.
    for path in [tmp_path / "wagate.db", *tmp_path.glob("wagate.db-*")]:
        raw = path.read_bytes()
        for secret in (HOOK_SECRET, NEW_SECRET):
            assert secret.encode() not in raw, f"a webhook secret in plaintext in {path.name}"


def test_no_password_of_a_failing_database_url_in_output(tmp_path: Path) -> None:
    password = "pw-" + uuid.uuid4().hex
    for url in (
        f"postgresql+asyncpg://wagate:{password}@127.0.0.1:1/wagate",  # nothing listens
        f"postgresql+asyncpg://nobody_{uuid.uuid4().hex[:6]}:{password}@127.0.0.1:5432/nope",
    ):
        env = serve_env(url, tmp_path / "data", log_level="debug")
        for command in (["migrate"], ["serve", "--port", "1"]):
            done = subprocess.run(
                [WAGATE, *command],
                env=env,
                cwd=tmp_path,
                capture_output=True,
                timeout=60,
                text=True,
            )
            assert done.returncode != 0, done.stdout + done.stderr
            output = done.stdout + done.stderr
            assert output.strip()
            assert password not in output, output[-2000:]
