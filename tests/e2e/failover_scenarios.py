"""Two failover measurements on real `wagate serve` processes, shared by the e2e tests and
`bench/failover.py`:

- `kill_during_sends`: three nodes, a steady stream of async sends; the holder of a third of the
  instances is SIGKILLed; the time from the kill to the first send of one of its instances on
  another node (read from the simulator's outbox, where each send is stamped by its node);
- `saturated_node`: one node's event loop is kept busy (100 % of a core, in slices longer than
  a loop-side renewal could bear) for longer than the lease TTL while sends go on; the leases it
  lost, the instances that moved, the fencing tokens that changed.
"""

from __future__ import annotations

import asyncio
import math
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from tests.integration.cluster.helpers import overlapping_connections
from tests.support.polling import eventually
from wagate.config import Settings
from wagate.db import Database, utcnow
from wagate.models import Instance, SimulatorOutbox

from .cluster_support import Cluster, NodeProcess, link
from .test_cluster_failover import first_reconnects

# The cluster timings a user gets when setting none (cluster_support's are shorter).
DEFAULT_TIMINGS = {
    f"WAGATE_{name.upper()}": str(Settings.model_fields[name].default)
    for name in (
        "lease_ttl_s",
        "lease_renew_interval_s",
        "heartbeat_interval_s",
        "placement_interval_s",
    )
}
CLK_TCK = 100


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


async def holdings(node: NodeProcess) -> tuple[dict[str, str], list[str]]:
    """Instance -> its holder among the live nodes, and the instances nobody holds."""
    response = await node.http.get("/v1/cluster")
    assert response.status_code == 200, response.text
    body = response.json()
    held = {name: n["id"] for n in body["nodes"] if n["live"] for name in n["instances"]}
    return held, body["unheld"]


async def linked_and_spread(nodes: list[NodeProcess], count: int, prefix: str) -> list[str]:
    gate = asyncio.Semaphore(6)

    async def link_one(i: int) -> str:
        async with gate:
            name = f"{prefix}-{i:02d}"
            await link(nodes[i % len(nodes)].http, name)
            return name

    names = list(await asyncio.gather(*(link_one(i) for i in range(count))))
    share = math.ceil(count / len(nodes))
    ids = {n.node_id for n in nodes}

    async def fair() -> bool:
        try:
            held, unheld = await holdings(nodes[-1])
        except AssertionError:  # 503 from a node too loaded to ask Redis in time: ask again
            return False
        per_node = [sum(1 for h in held.values() if h == node) for node in ids]
        return not unheld and set(held.values()) == ids and all(c == share for c in per_node)

    await eventually(fair, timeout=90, interval=0.3, what=f"{share} instances on each node")
    return names


@dataclass
class SendStream:
    """Async sends, round-robin over the instances, through the given nodes' APIs."""

    names: list[str]
    targets: Callable[[], list[NodeProcess]]
    per_s: float
    tag: str
    accepted: int = 0
    failed: int = 0
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        i = 0
        started = time.monotonic()
        pending: set[asyncio.Task[None]] = set()
        while not self._stop.is_set():
            targets = [n for n in self.targets() if n.popen.poll() is None]
            task = asyncio.create_task(self._one(i, targets[i % len(targets)]))
            pending.add(task)
            task.add_done_callback(pending.discard)
            i += 1
            await asyncio.sleep(max(0.0, started + i / self.per_s - time.monotonic()))
        await asyncio.gather(*pending)

    async def _one(self, i: int, node: NodeProcess) -> None:
        name = self.names[i % len(self.names)]
        body = {"to": f"55119876{i % 10_000:04d}1", "text": f"{self.tag} {i}"}
        try:
            response = await node.http.post(
                f"/v1/instances/{name}/send/text?async=true",
                json=body,
                headers={"Idempotency-Key": f"{self.tag}-{i}"},
            )
        except Exception:
            self.failed += 1
            return
        if response.status_code == 202:
            self.accepted += 1
        else:
            self.failed += 1

    def stop(self) -> None:
        self._stop.set()


async def _outbox(db: Database) -> list[tuple[str, str | None, datetime]]:
    async with db.session() as session:
        rows = await session.execute(
            select(Instance.name, SimulatorOutbox.node, SimulatorOutbox.sent_at).join(
                Instance, Instance.id == SimulatorOutbox.instance_id
            )
        )
        return [(name, node, sent_at) for name, node, sent_at in rows.all()]


async def _timed(call: Awaitable[object]) -> float:
    started = time.monotonic()
    await call
    return time.monotonic() - started


@dataclass
class KillResult:
    first_connect_s: float  # the first taken-over instance connected on another node
    first_send_s: float
    last_first_send_s: float  # the last of the taken-over instances to send again
    taken_over: int
    accepted: int
    overlaps: list[str]
    survivor_lag_s: float  # the survivors' slowest /healthz answer from the kill on


async def kill_during_sends(
    cluster: Cluster, db: Database, *, instances: int = 12, per_s: float = 30, run: int = 0
) -> KillResult:
    nodes = [await cluster.start(f"k{run}n{i}") for i in range(3)]
    victim, survivors = nodes[0], nodes[1:]
    names = await linked_and_spread(nodes, instances, f"kill{run}")
    held, _ = await holdings(survivors[0])
    victim_held = {name for name, node in held.items() if node == victim.node_id}
    stream = SendStream(names, lambda: survivors, per_s, f"kill{run}")
    sending = asyncio.create_task(stream.run())
    await asyncio.sleep(2)  # the stream runs on every node, the victim's instances included
    killed_at = utcnow()
    victim.kill()

    async def all_sent_again() -> dict[str, float] | None:
        firsts: dict[str, float] = {}
        for name, node, sent_at in await _outbox(db):
            if name in victim_held and node != victim.node_id and sent_at > killed_at:
                seconds = (sent_at - killed_at).total_seconds()
                firsts[name] = min(seconds, firsts.get(name, seconds))
        return firsts if len(firsts) == len(victim_held) else None

    lags: list[float] = []

    async def probe() -> None:  # how late the survivors' event loops answer meanwhile
        while True:
            lags.extend(await asyncio.gather(*(_timed(n.http.get("/healthz")) for n in survivors)))
            await asyncio.sleep(0.2)

    probing = asyncio.create_task(probe())
    try:
        firsts = await eventually(
            all_sent_again, timeout=60, interval=0.2, what="every taken-over instance sent"
        )
    finally:
        probing.cancel()
        stream.stop()
        await sending
    overlaps = await overlapping_connections(db, {victim.node_id: killed_at})
    connects = await first_reconnects(db, victim_held, killed_at, victim.node_id)
    return KillResult(
        first_connect_s=connects[0] if connects else math.inf,
        first_send_s=min(firsts.values()),
        last_first_send_s=max(firsts.values()),
        taken_over=len(firsts),
        accepted=stream.accepted,
        overlaps=overlaps,
        survivor_lag_s=max(lags, default=0.0),
    )


@dataclass
class SaturationResult:
    busy_s: float
    cpu_share: float  # CPU seconds of the busy node per second of the saturation
    leases_lost: int  # "lease lost" lines in the busy node's log
    moved: set[str]  # instances whose holder changed at any poll
    unheld_seen: int  # polls that saw an instance nobody held
    tokens_changed: set[str]
    accepted: int
    slow_answer_s: float  # the busy node's slowest /healthz answer meanwhile
    refusals: list[str]  # GET /v1/cluster answers other than 200 on another node meanwhile


async def _tokens(db: Database, names: list[str]) -> dict[str, int | None]:
    async with db.session() as session:
        rows = await session.execute(
            select(Instance.name, Instance.fencing_token).where(Instance.name.in_(names))
        )
        return {name: token for name, token in rows.all()}


async def saturated_node(
    cluster: Cluster,
    db: Database,
    *,
    total_s: float,
    slice_s: float,
    instances: int = 12,
    per_s: float = 60,
    run: int = 0,
) -> SaturationResult:
    busy = await cluster.start(
        f"b{run}n0",
        module="tests.support.busy_serve",
        BUSY_TOTAL_S=str(total_s),
        BUSY_SLICE_S=str(slice_s),
    )
    nodes = [busy, *[await cluster.start(f"b{run}n{i}") for i in (1, 2)]]
    names = await linked_and_spread(nodes, instances, f"busy{run}")
    before, _ = await holdings(nodes[1])
    tokens = await _tokens(db, names)
    stream = SendStream(names, lambda: nodes, per_s, f"busy{run}")
    sending = asyncio.create_task(stream.run())
    await asyncio.sleep(1)
    moved: set[str] = set()
    refusals: list[str] = []
    unheld_seen = 0
    slowest = 0.0
    cpu_before, started = cpu_seconds(busy.popen.pid), time.monotonic()
    busy.popen.send_signal(signal.SIGUSR1)
    probe = asyncio.create_task(_timed(busy.http.get("/healthz", timeout=60)))
    cpu_share = 0.0
    # Watched for the saturation and a TTL after it: a lease lost late shows up too.
    ttl = float(DEFAULT_TIMINGS["WAGATE_LEASE_TTL_S"])
    while (elapsed := time.monotonic() - started) < total_s + ttl or not cpu_share:
        if not cpu_share and elapsed >= total_s:
            cpu_share = (cpu_seconds(busy.popen.pid) - cpu_before) / elapsed
        try:
            held, unheld = await holdings(nodes[1])
        except AssertionError as exc:  # the answer is kept for the report, the watch goes on
            refusals.append(str(exc)[:200])
        else:
            moved |= {name for name in before if held.get(name) != before[name]}
            unheld_seen += bool(unheld)
        if probe.done():
            slowest = max(slowest, probe.result())
            probe = asyncio.create_task(_timed(busy.http.get("/healthz", timeout=60)))
        await asyncio.sleep(0.25)
    slowest = max(slowest, await probe)
    stream.stop()
    await sending
    lost = busy.tail(10_000_000).count("lease lost")
    after = await _tokens(db, names)
    return SaturationResult(
        busy_s=total_s,
        cpu_share=cpu_share,
        leases_lost=lost,
        moved=moved,
        unheld_seen=unheld_seen,
        tokens_changed={name for name in names if after[name] != tokens[name]},
        accepted=stream.accepted,
        slow_answer_s=slowest,
        refusals=refusals,
    )
