"""Slow clients against a real `wagate serve`: request heads that never complete (slowloris)
are cut off after WAGATE_HTTP_HEADER_TIMEOUT_S while other clients are served, oversized
heads are refused (trickled in or in one read), and a stalled body still gets its 408
(wagate.limits)."""

from __future__ import annotations

import contextlib
import select
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import ADMIN_TOKEN
from tests.hardening.processes import Node, serve_env

HEAD_TIMEOUT_S = 2.0
MAX_HEAD_BYTES = 16 * 1024


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    workdir: Path = tmp_path_factory.mktemp("slow")
    env = serve_env(
        f"sqlite+aiosqlite:///{workdir / 'wagate.db'}",
        workdir / "data",
        http_header_timeout_s=HEAD_TIMEOUT_S,
        http_max_header_bytes=MAX_HEAD_BYTES,
        http_keepalive_timeout_s=30,  # so that only the head deadline can close anything
        request_body_timeout_s=1,
        rate_limit_per_s=0,
        node_id=f"slow-{uuid.uuid4().hex[:6]}",
        log_level="warning",
    )
    with Node(env, workdir) as started:
        yield started


def connect(node: Node) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", node.port), timeout=10)
    sock.setblocking(False)
    return sock


def test_heads_that_never_complete_are_cut_off_while_others_are_served(node: Node) -> None:
    started = time.monotonic()
    half = connect(node)  # half a head, then nothing
    half.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    trickle = connect(node)  # a byte now and then: must not extend the deadline
    trickle.sendall(b"GET /healthz HTTP/1.1\r\n")
    silent = connect(node)  # connects and never sends a byte
    open_socks = {half: "half", trickle: "trickle", silent: "silent"}
    closed_after: dict[str, float] = {}
    served = 0
    with httpx.Client(base_url=node.url, timeout=5) as other:
        while open_socks and time.monotonic() - started < HEAD_TIMEOUT_S + 8:
            # Another client, on its own connections, is answered meanwhile.
            assert other.get("/healthz").status_code == 200
            served += 1
            with contextlib.suppress(OSError):  # once the server has closed it
                trickle.send(b"X")
            readable, _, _ = select.select(list(open_socks), [], [], 0.2)
            for sock in readable:
                try:
                    data = sock.recv(4096)
                except ConnectionResetError:
                    data = b""
                assert data == b"", f"{open_socks[sock]}: answered {data[:200]!r}"
                closed_after[open_socks.pop(sock)] = time.monotonic() - started
                sock.close()
    for sock in open_socks:
        sock.close()
    assert set(closed_after) == {"half", "trickle", "silent"}, closed_after
    for name, seconds in closed_after.items():
        assert HEAD_TIMEOUT_S - 0.2 < seconds < HEAD_TIMEOUT_S + 3, (name, closed_after)
    assert served >= 5, served


def test_a_complete_head_is_not_cut_off_by_the_head_deadline(node: Node) -> None:
    # A keep-alive connection: the head deadline restarts with each request and stops once
    # the head is complete, so a connection used twice across the deadline is fine.
    with httpx.Client(base_url=node.url, timeout=5) as http:
        assert http.get("/healthz").status_code == 200
        time.sleep(HEAD_TIMEOUT_S + 0.5)
        assert http.get("/healthz").status_code == 200
        assert http.get("/healthz", headers={"X-Pad": "a" * 8000}).status_code == 200


def test_an_oversized_head_is_refused(node: Node) -> None:
    with socket.create_connection(("127.0.0.1", node.port), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        try:
            for _ in range(MAX_HEAD_BYTES // 1000 + 4):
                sock.sendall(b"X-Pad: " + b"a" * 1000 + b"\r\n")
        except OSError:
            pass  # closed while we were still sending: refused
        answer = b""
        try:
            while chunk := sock.recv(4096):
                answer += chunk
        except ConnectionResetError:
            pass
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]


@pytest.mark.parametrize("size", [40 * 1024, 100 * 1024])
def test_an_oversized_head_in_one_read_is_refused(node: Node, size: int) -> None:
    # One sendall on loopback: the server reads the whole head at once, so no read of it is
    # ever a part of a head still incomplete (the case counted while the head trickles in).
    head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Pad: " + b"a" * size + b"\r\n\r\n"
    with socket.create_connection(("127.0.0.1", node.port), timeout=10) as sock:
        sock.sendall(head)
        answer = b""
        try:
            while chunk := sock.recv(4096):
                answer += chunk
        except ConnectionResetError:
            pass
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
    assert b"HTTP/1.1 400" not in answer and b"200" not in answer.split(b"\r\n")[0]
    # A head just under the cap, in one read too, is served.
    with httpx.Client(base_url=node.url, timeout=5) as http:
        fits = http.get("/healthz", headers={"X-Pad": "a" * (MAX_HEAD_BYTES - 200)})
        assert fits.status_code == 200


def test_a_body_that_stalls_still_gets_408(node: Node) -> None:
    with socket.create_connection(("127.0.0.1", node.port), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(
            b"POST /v1/instances HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + ADMIN_TOKEN.encode() + b"\r\n"
            b'Content-Length: 100\r\n\r\n{"name": '
        )
        answer = b""
        while b"request_timeout" not in answer and (chunk := sock.recv(4096)):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert time.monotonic() - started < HEAD_TIMEOUT_S + 3
