"""Faults under load (real processes): during a stream of async sends, Redis stops for 10 s,
PostgreSQL restarts, and the webhook receiver is down for a minute
(WAGATE_FAULT_RECEIVER_DOWN_S). /readyz reports each server fault while it lasts; afterwards
every accepted message is final and every event delivered; lost must be 0."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.hardening.processes import Node, admin_client, linked, serve_env
from tests.hardening.receiver import ThreadReceiver
from tests.hardening.services import PrivatePostgres
from tests.support.polling import eventually_sync
from tests.support.redis_server import RedisServer

RECEIVER_DOWN_S = float(os.environ.get("WAGATE_FAULT_RECEIVER_DOWN_S", "60"))
FINAL = {"sent", "delivered", "read", "failed"}


class Stream:
    """Async text sends, one every `interval` s, each with its own text, from a thread."""

    def __init__(self, url: str, name: str, token: str, interval: float = 0.05) -> None:
        self.url, self.name, self.token, self.interval = url, name, token, interval
        self.accepted: dict[str, str] = {}  # correlation id -> text
        self.refused: Counter[int] = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        with httpx.Client(base_url=self.url, headers=headers, timeout=10) as http:
            index = 0
            while not self._stop.is_set():
                text = f"m-{index}"
                index += 1
                try:
                    answer = http.post(
                        f"/v1/instances/{self.name}/send/text?async=true",
                        json={"to": "+4915112345678", "text": text},
                    )
                except httpx.HTTPError:
                    self.refused[0] += 1
                else:
                    if answer.status_code == 202:
                        self.accepted[answer.json()["correlation_id"]] = text
                    else:
                        self.refused[answer.status_code] += 1
                time.sleep(self.interval)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)


def all_deliveries(http: httpx.Client, name: str, status: str) -> list[dict[str, Any]]:
    """Every delivery of `status`, through the pages of the delivery log."""
    found: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = http.get(
            f"/v1/instances/{name}/webhook/deliveries",
            params={"status": status, "limit": 1000, **({"cursor": cursor} if cursor else {})},
        )
        assert page.status_code == 200, page.text
        body = page.json()
        found += body["deliveries"]
        cursor = body.get("next_cursor") or ""
        if not cursor:
            return found


def readyz(url: str) -> tuple[int, dict[str, Any]]:
    try:
        answer = httpx.get(f"{url}/readyz", timeout=10)
        return answer.status_code, answer.json()
    except (httpx.HTTPError, ValueError) as exc:
        return 0, {"error": type(exc).__name__}


LAST_READYZ: list[Any] = []


def ready(url: str) -> bool:
    found = readyz(url)
    LAST_READYZ[:] = [found]
    return found[0] == 200


def not_ready(url: str) -> tuple[int, dict[str, Any]] | None:
    found = readyz(url)
    LAST_READYZ[:] = [found]
    return found if found[0] == 503 else None


@pytest.mark.e2e
@pytest.mark.slow
def test_faults_under_load(tmp_path: Path) -> None:
    redis_server = RedisServer(tmp_path)
    postgres = PrivatePostgres()
    receiver = ThreadReceiver()
    postgres.init()
    postgres.start()
    redis_server.start()
    receiver.start()
    env = serve_env(
        postgres.url,
        tmp_path / "data",
        redis_url=redis_server.url,
        rate_limit_per_s=0,
        webhook_retry_base_delay_s=0.2,
        webhook_retry_max_delay_s=3,
        webhook_max_attempts=1000,
        webhook_poll_interval_s=0.2,
        webhook_timeout_s=2,
        send_retry_base_s=0.2,
        send_retry_max_s=2,
        reconcile_interval_s=1,
        reconcile_grace_s=1,
        queue_claim_idle_ms=2000,
        log_level="warning",
    )
    env["PYTHONFAULTHANDLER"] = "1"  # SIGABRT on a failure dumps where the node is stuck
    node = Node(env, tmp_path)
    stream: Stream | None = None
    try:
        node.start(timeout=60)
        with admin_client(node.url) as http:
            name = "faults"
            token = linked(http, name, webhook={"url": receiver.url}, settings={"max_attempts": 50})
            stream = Stream(node.url, name, token)
            stream.start()
            time.sleep(2)

            # Redis down for 10 s: /readyz says so while it lasts.
            redis_server.stop()
            seen = eventually_sync(
                lambda: not_ready(node.url), timeout=10, what="/readyz 503 (Redis down)"
            )
            assert seen[1]["queue"] != "ok", seen
            time.sleep(10)
            redis_server.start()
            eventually_sync(lambda: ready(node.url), timeout=30, what="ready after Redis")

            # PostgreSQL restarted.
            postgres.stop()
            seen = eventually_sync(
                lambda: not_ready(node.url), timeout=15, what="/readyz 503 (PostgreSQL down)"
            )
            assert seen[1]["database"] != "ok", seen
            time.sleep(3)
            postgres.start()
            eventually_sync(lambda: ready(node.url), timeout=60, what="ready after PostgreSQL")

            # The webhook receiver down: deliveries wait, with their errors in the log (the
            # newest may not have been tried yet: a failing URL gets a few tries per poll, not
            # one per waiting row).
            receiver.stop()
            time.sleep(RECEIVER_DOWN_S)
            waiting = all_deliveries(http, name, "pending")
            assert waiting, "no delivery waits while the receiver is down"
            assert any(d["last_error"] for d in waiting), waiting[:3]
            receiver.start()
            time.sleep(2)
            stream.stop()

            def unfinished() -> list[str]:
                left = []
                for cid in stream.accepted:
                    row = http.get(f"/v1/instances/{name}/messages/{cid}").json()
                    if row.get("status") not in FINAL:
                        left.append(cid)
                return left

            eventually_sync(
                lambda: not unfinished(), timeout=180, interval=1, what="every message final"
            )
            final = {
                cid: http.get(f"/v1/instances/{name}/messages/{cid}").json()["status"]
                for cid in stream.accepted
            }
            statuses = Counter(final.values())

            def acked() -> set[str]:
                return {
                    e["data"]["correlation_id"]
                    for e in receiver.snapshot()
                    if e["event"] == "message_ack"
                }

            eventually_sync(
                lambda: set(stream.accepted) <= acked(),
                timeout=180,
                interval=1,
                what="a message_ack delivered for every message",
            )

            # Every event delivered: nothing left pending, nothing given up on.
            eventually_sync(
                lambda: not all_deliveries(http, name, "pending"),
                timeout=120,
                interval=1,
                what="no pending delivery",
            )
            left = all_deliveries(http, name, "pending") + all_deliveries(http, name, "failed")
            outbox = http.get(f"/v1/instances/{name}/simulator/outbox").json()["messages"]
    except AssertionError as exc:
        if node.process is not None and node.process.poll() is None:
            node.process.send_signal(signal.SIGABRT)
            node.process.wait(10)
        raise AssertionError(f"{exc}; last /readyz: {LAST_READYZ}") from exc
    finally:
        if stream is not None:
            stream.stop()
        node.stop()
        receiver.stop()
        redis_server.stop()
        postgres.remove()

    texts = Counter(item["body"].get("text") for item in outbox)
    accepted = len(stream.accepted)
    sent = sum(n for s, n in statuses.items() if s != "failed")
    failed = statuses["failed"]
    duplicates = sum(n - 1 for text, n in texts.items() if n > 1)
    # Lost: accepted, not failed, yet never reached the (simulated) network.
    lost = sum(
        1 for cid, text in stream.accepted.items() if final[cid] != "failed" and texts[text] == 0
    )
    print(
        f"\nfaults: accepted={accepted} sent={sent} failed={failed} duplicates={duplicates} "
        f"lost={lost} refused={dict(stream.refused)} undelivered="
        f"{len(left)} events_received={len(receiver.snapshot())}"
    )
    assert accepted > 50
    assert lost == 0
    assert failed == 0  # 50 attempts outlast every fault here
    assert not left
