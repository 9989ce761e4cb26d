"""Forwarding and the edge: only an authenticated request goes to another node, and a failed
cluster lookup answers 503 without its exception."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.conftest import create_instance, free_port, linked_instance
from tests.support.polling import eventually

from .conftest import NodeFactory

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


class Recorder:
    """A real HTTP server on loopback that stands where the holder's address points: it
    records every request that reaches it and answers 200 `{}`."""

    def __init__(self) -> None:
        self.port = free_port()
        self.requests: list[tuple[str, str]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", "0")))
                recorder.requests.append((self.command, self.path))
                body = json.dumps({}).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    found = Recorder()
    yield found
    found.close()


async def test_a_request_with_a_wrong_token_is_not_forwarded(
    start_node: NodeFactory, recorder: Recorder
) -> None:
    api = await start_node(role="api")
    # The holder is registered at the recorder's address: whatever the API node forwards
    # to it lands there.
    holder = await start_node(internal_url=recorder.url)
    name = (await linked_instance(holder.http))["name"]
    await eventually(
        lambda: _true(name in holder.held_names()),
        what="the instance held by the holder",
        timeout=15,
    )
    wrong = {"Authorization": f"Bearer wgi_{uuid.uuid4().hex}{uuid.uuid4().hex}"}
    async with httpx.AsyncClient(base_url=api.url, timeout=10) as http:
        refused = await http.post(f"/v1/instances/{name}/disconnect", headers=wrong)
        missing = await http.post(f"/v1/instances/{name}/disconnect")
    assert refused.status_code == 401, refused.text
    assert refused.json()["error"]["code"] == "unauthorized"
    assert missing.status_code == 401, missing.text
    assert recorder.requests == []
    # The same call with a valid token is forwarded (the check above is not vacuous).
    forwarded = await api.http.post(f"/v1/instances/{name}/disconnect")
    assert forwarded.status_code == 200, forwarded.text
    assert recorder.requests == [("POST", f"/v1/instances/{name}/disconnect")]


async def test_a_failed_cluster_lookup_answers_503_without_the_exception(
    start_node: NodeFactory,
) -> None:
    api = await start_node(role="api")  # and no node that takes instances: the lookup fails
    name = (await create_instance(api.http))["name"]
    response = await api.http.post(f"/v1/instances/{name}/connect")
    assert response.status_code == 503, response.text
    body = response.json()
    assert body == {
        "error": {
            "code": "unavailable",
            "message": "the cluster cannot be reached; retry later",
            "details": {},
        }
    }


async def _true(value: bool) -> bool:
    return value
