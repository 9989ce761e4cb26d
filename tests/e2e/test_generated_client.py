"""A client generated from a running node's /openapi.json by a real generator
(openapi-python-client, from PyPI) works against that node: create, connect, link through the
simulator, send sync and async, read the records, a batch, a typed error."""

from __future__ import annotations

import asyncio
import base64
import importlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_serve import Node, base_env
from tests.integration.instance_helpers import SseReader

pytestmark = pytest.mark.e2e

TOKEN = "wga_e2e_generated_client_0123456789"
PACKAGE = "wagate_generated_client"
ME = "15551234567"


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    started = Node(tmp_path, {**base_env(tmp_path), "WAGATE_ADMIN_TOKEN": TOKEN}, 1)
    yield started
    started.kill()


def generate(spec: dict[str, Any], where: Path) -> Any:
    """Run the generator on the document, import the package it writes."""
    path = where / "openapi.json"
    path.write_text(json.dumps(spec))
    # Its post-generation hook formats with ruff, which sits beside this interpreter.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    command = ["generate", "--path", str(path), "--output-path", str(where / PACKAGE)]
    run = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", *command, "--meta", "none"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    # A warning means a part of the document the generator left out of the client.
    assert "Warning" not in output and "WARNING" not in output, output
    sys.path.insert(0, str(where))
    try:
        return importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(where))


async def eventually_status(get_instance: Any, client: Any, name: str, status: str) -> None:
    deadline = time.monotonic() + 20
    while True:
        found = await get_instance.asyncio(name, client=client)
        if found.status == status:
            return
        assert time.monotonic() < deadline, f"{name} still {found.status}, not {status}"
        await asyncio.sleep(0.1)


async def test_a_generated_client_drives_a_running_node(tmp_path: Path, node: Node) -> None:
    await node.wait_ready()
    async with httpx.AsyncClient(base_url=node.url, timeout=10) as http:
        spec = (await http.get("/openapi.json")).json()
    package = generate(spec, tmp_path)
    instances = importlib.import_module(f"{PACKAGE}.api.instances")
    messages = importlib.import_module(f"{PACKAGE}.api.messages")
    simulator = importlib.import_module(f"{PACKAGE}.api.simulator")
    models = importlib.import_module(f"{PACKAGE}.models")
    for module in ("create_instance", "connect_instance", "get_instance"):
        importlib.import_module(f"{instances.__name__}.{module}")
    for module in ("send_text", "send_batch", "get_message"):
        importlib.import_module(f"{messages.__name__}.{module}")
    importlib.import_module(f"{simulator.__name__}.simulate_scan")
    importlib.import_module(f"{simulator.__name__}.simulate_inbound")
    importlib.import_module(f"{PACKAGE}.api.contacts_and_chats.download_media")
    chats = importlib.import_module(f"{PACKAGE}.api.contacts_and_chats")

    async with package.AuthenticatedClient(base_url=node.url, token=TOKEN) as client:
        body = models.CreateInstance.from_dict({"name": "gen", "engine": "simulator"})
        created = await instances.create_instance.asyncio(client=client, body=body)
        assert isinstance(created, models.CreatedInstance), created
        assert created.name == "gen" and created.token.startswith("wgi_")

        await instances.connect_instance.asyncio_detailed("gen", client=client)
        await eventually_status(instances.get_instance, client, "gen", "pairing")
        scanned = await simulator.simulate_scan.asyncio_detailed(
            "gen", client=client, body=models.ScanIn()
        )
        assert scanned.status_code == 204, scanned.content
        await eventually_status(instances.get_instance, client, "gen", "connected")

        headers = {"X-Api-Key": TOKEN}
        async with (
            httpx.AsyncClient(base_url=node.url, headers=headers, timeout=10) as http,
            http.stream("GET", "/v1/instances/gen/events") as stream,
        ):
            reader = SseReader(stream)
            sent = await messages.send_text.asyncio(
                "gen", client=client, body=models.TextIn(to=ME, text="sync from a generated client")
            )
            assert isinstance(sent, models.SentOut), sent
            assert sent.status == "sent" and sent.message_id
            # The event models of the webhooks section read the events as they come.
            ack = models.MessageAckEvent.from_dict(await reader.until("message_ack"))
            assert ack.data.correlation_id == sent.correlation_id
            assert ack.data.message_id == sent.message_id and ack.instance == "gen"
            receipt = models.MessageStatusEvent.from_dict(await reader.until("message_status"))
            assert receipt.data.message_id == sent.message_id

        queued = await messages.send_text.asyncio(
            "gen", client=client, body=models.TextIn(to=ME, text="async"), async_=True
        )
        assert isinstance(queued, models.QueuedOut), queued
        assert queued.status == "queued"

        record = await messages.get_message.asyncio("gen", sent.correlation_id, client=client)
        assert isinstance(record, models.MessageOut), record
        assert record.correlation_id == sent.correlation_id and record.kind == "text"
        assert record.message_id == sent.message_id and record.attempts == 1
        deadline = time.monotonic() + 20
        while True:
            later = await messages.get_message.asyncio("gen", queued.correlation_id, client=client)
            assert isinstance(later, models.MessageOut), later
            if later.status not in {"queued", "sending"}:
                break
            assert time.monotonic() < deadline, later.status
            await asyncio.sleep(0.1)
        assert later.status in {"sent", "delivered", "read"} and later.message_id

        # The batch answer is a typed union: a queued item and a refused one.
        batch = models.BatchIn.from_dict(
            {
                "messages": [
                    {"kind": "text", "to": ME, "text": "b"},
                    {"kind": "text", "to": "not a number", "text": "c"},
                ]
            }
        )
        results = await messages.send_batch.asyncio("gen", client=client, body=batch)
        assert isinstance(results, models.BatchOut), results
        first, second = results.results
        assert isinstance(first, models.QueuedOut), first
        assert isinstance(second, models.BatchError), second
        assert second.error.code == "validation_error"
        assert second.error.details.to_dict()["index"] == 1

        # Received media comes back as bytes (declared application/octet-stream for that).
        picture = b"\x89PNG\r\n\x1a\n" + bytes(range(200))
        media = {"base64": base64.b64encode(picture).decode(), "mimetype": "image/png"}
        arrived = await simulator.simulate_inbound.asyncio(
            "gen",
            client=client,
            body=models.InboundIn.from_dict({"from": ME, "kind": "image", "media": media}),
        )
        assert isinstance(arrived, models.InboundOut), arrived
        deadline = time.monotonic() + 20
        while True:
            got = await chats.download_media.asyncio_detailed(
                "gen", arrived.message_id, client=client
            )
            if got.status_code == 200 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert got.status_code == 200 and got.parsed is not None, got.content
        assert got.parsed.payload.read() == picture

        # An error answer is the typed ErrorBody.
        missing = await messages.get_message.asyncio("gen", "0" * 32, client=client)
        assert isinstance(missing, models.ErrorBody), missing
        assert missing.error.code == "not_found"
