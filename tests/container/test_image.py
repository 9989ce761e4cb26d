"""The container image, built and run with podman as a user would run it: link a simulator
instance, send, stop and start again from the volume; two containers as a cluster on
PostgreSQL and Redis. Fails (does not skip) when the image cannot be built or run."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.conftest import ADMIN_TOKEN, free_port
from tests.container.podman import Container, built_image, podman
from tests.support.polling import eventually_sync

pytestmark = [pytest.mark.container]

SIMULATOR = {
    "WAGATE_ENGINE": "simulator",
    "WAGATE_SIMULATOR_QR_INTERVAL_S": "5",
    "WAGATE_SIMULATOR_RECEIPT_DELAY_MS": "20",
    "WAGATE_RATE_LIMIT_PER_S": "0",
}
STOP_WITHIN_S = 10.0
TO = "+5511987654321"


@pytest.fixture(scope="module")
def image() -> str:
    tag = built_image()
    size = int(podman("image", "inspect", "--format", "{{.Size}}", tag))
    print(f"\n{tag}: {size / 1e6:.0f} MB")
    return tag


@pytest.fixture
def volumes() -> Iterator[Callable[[], str]]:
    made: list[str] = []

    def make() -> str:
        made.append(podman("volume", "create", f"wagate-test-{uuid.uuid4().hex[:10]}"))
        return made[-1]

    yield make
    for volume in made:
        subprocess.run(["podman", "volume", "rm", "-f", volume], capture_output=True)


@pytest.fixture
def containers(image: str) -> Iterator[Callable[..., Container]]:
    started: list[Container] = []

    def run(volume: str, port: int | None = None, **env: str) -> Container:
        started.append(Container(image, volume, port or free_port(), env))
        started[-1].wait_healthy()
        return started[-1]

    yield run
    for container in started:
        container.remove()


def status(http: httpx.Client, name: str) -> str:
    answer = http.get(f"/v1/instances/{name}")
    assert answer.status_code == 200, answer.text
    return str(answer.json()["status"])


def link(http: httpx.Client, name: str) -> None:
    """README's quick start: create (engine from WAGATE_ENGINE), connect, scan."""
    created = http.post("/v1/instances", json={"name": name})
    assert created.status_code == 201, created.text
    assert created.json()["engine"] == "simulator"
    assert http.post(f"/v1/instances/{name}/connect").status_code == 202
    eventually_sync(
        lambda: status(http, name) == "pairing", what="pairing", timeout=30, interval=0.2
    )
    scan = http.post(f"/v1/instances/{name}/simulator/scan", json={})
    assert scan.status_code == 204, scan.text
    eventually_sync(
        lambda: status(http, name) == "connected", what="connected", timeout=30, interval=0.2
    )


def send_sync(http: httpx.Client, name: str, text: str) -> None:
    sent = http.post(f"/v1/instances/{name}/send/text", json={"to": TO, "text": text})
    assert sent.status_code == 200, sent.text
    assert sent.json()["status"] == "sent" and sent.json()["message_id"]


def send_async(http: httpx.Client, name: str, text: str) -> None:
    queued = http.post(
        f"/v1/instances/{name}/send/text", params={"async": "true"}, json={"to": TO, "text": text}
    )
    assert queued.status_code == 202, queued.text
    path = f"/v1/instances/{name}/messages/{queued.json()['correlation_id']}"
    # sent, then receipts move it on (delivered, read)
    record = eventually_sync(
        lambda: (m := http.get(path).json())["status"] in {"sent", "delivered", "read"} and m,
        what="the async send",
        timeout=30,
        interval=0.2,
    )
    assert record["message_id"]


def client(container: Container, token: str = ADMIN_TOKEN) -> httpx.Client:
    return httpx.Client(
        base_url=container.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def test_image_links_sends_stops_cleanly_and_resumes_from_its_volume(
    image: str, volumes: Callable[[], str], containers: Callable[..., Container]
) -> None:
    data = volumes()
    first = containers(data, WAGATE_ADMIN_TOKEN=ADMIN_TOKEN, **SIMULATOR)
    # Not root inside; the image's own HEALTHCHECK passes.
    assert podman("exec", first.name, "id", "-u") == "10001"
    podman("healthcheck", "run", first.name)
    with client(first) as http:
        link(http, "demo")
        send_sync(http, "demo", "hello from a container")
        send_async(http, "demo", "queued in a container")
    # SIGTERM reaches wagate through tini: a clean, quick stop, not a kill after the timeout.
    took, code = first.stop()
    assert code == 0, first.logs()
    assert took < STOP_WITHIN_S, f"podman stop took {took:.1f} s"
    assert "Application shutdown complete" in first.logs()
    first.remove()

    # A new container on the same volume, now without WAGATE_ADMIN_TOKEN: the instance comes
    # back from the SQLite file in /data, and a generated admin token is in /data/admin-token.
    second = containers(data, port=first.port, **SIMULATOR)
    generated = podman("exec", second.name, "wagate", "admin-token")
    assert generated.startswith("wga_") and len(generated) >= 32
    assert podman("exec", second.name, "stat", "-c", "%a", "/data/admin-token") == "600"
    with client(second, generated) as http:
        eventually_sync(
            lambda: status(http, "demo") == "connected",
            what="the resumed instance",
            timeout=30,
            interval=0.2,
        )
        send_sync(http, "demo", "hello again")
    took, code = second.stop()
    assert code == 0 and took < STOP_WITHIN_S, second.logs()
    logs = second.logs()
    assert logs.count(generated) == 1  # printed once at start, never logged


@pytest.mark.postgres
@pytest.mark.redis
def test_two_containers_form_a_cluster_on_postgres_and_redis(
    image: str,
    postgres_url: str,
    redis_url: str,
    volumes: Callable[[], str],
    containers: Callable[..., Container],
) -> None:
    run = uuid.uuid4().hex[:8]
    shared = {
        **SIMULATOR,
        "WAGATE_ADMIN_TOKEN": ADMIN_TOKEN,
        "WAGATE_DATABASE_URL": postgres_url,
        "WAGATE_REDIS_URL": redis_url,
        # This run's own keys in the shared Redis database.
        "WAGATE_CLUSTER_KEY_PREFIX": f"wagate-test-{run}:cluster:",
        "WAGATE_QUEUE_KEY_PREFIX": f"wagate-test-{run}:",
        "WAGATE_LEASE_TTL_S": "3",
        "WAGATE_LEASE_RENEW_INTERVAL_S": "1",
        "WAGATE_HEARTBEAT_INTERVAL_S": "1",
        "WAGATE_PLACEMENT_INTERVAL_S": "0.5",
    }
    nodes = []
    for node_id in ("box-a", "box-b"):
        port = free_port()
        nodes.append(
            containers(
                volumes(),
                port=port,
                WAGATE_NODE_ID=node_id,
                WAGATE_INTERNAL_URL=f"http://127.0.0.1:{port}",
                **shared,
            )
        )
    a, b = nodes
    with client(a) as http_a, client(b) as http_b:

        def live_nodes() -> set[str]:
            body = http_a.get("/v1/cluster").json()
            return {node["id"] for node in body["nodes"] if node["live"]}

        assert eventually_sync(
            lambda: live_nodes() == {"box-a", "box-b"},
            what="both nodes in /v1/cluster",
            timeout=30,
            interval=0.2,
        )
        assert {n["id"] for n in http_b.get("/v1/cluster").json()["nodes"]} >= {"box-a", "box-b"}
        link(http_a, "shared")
        send_sync(http_a, "shared", "through box-a")
        send_sync(http_b, "shared", "through box-b")
        send_async(http_b, "shared", "queued through box-b")
    for node in nodes:
        took, code = node.stop()
        assert code == 0 and took < STOP_WITHIN_S, node.logs()
