"""The cluster runtime of one node: heartbeat, lease renewal, the lease guard and placement.

A thread and four loops, so that a slow one never delays another:
- the renewer (renewer.py), a thread: every held lease and the node's liveness key, in one
  Redis round trip, every `lease_renew_interval_s`, whatever the event loop is doing;
- heartbeat: `nodes.last_seen_at` every `heartbeat_interval_s` (shown by GET /v1/cluster);
- guard: a lease not renewed in time has its client stopped at once, a quarter of the TTL
  before it could expire in Redis, so the client is gone before another node may connect;
- placement: every `placement_interval_s`, take free instances up to the fair share, give back
  the excess while another node has room, give back instances nobody wants connected;
- watch: several times a second, whether a live node's liveness key is gone (the node died:
  its leases expired with it); placement then runs at once instead of at its next interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import structlog
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from wagate.cluster import repository
from wagate.config import Settings
from wagate.db import Database
from wagate.engines.manager import ClientManager
from wagate.engines.status import LIVE, Status
from wagate.tasks import cancel_requested, stop_tasks, wait_tasks

from .events import EventRelay
from .leases import Holder, LeaseRenewal, LeaseStore
from .nodes import NodeRegistry
from .ownership import HeldLease, LeaseOwnership
from .placement import plan
from .renewer import LeaseRenewer

log = structlog.get_logger(__name__)

TAKE_CONCURRENCY = 50
# Leases acquired together in a placement pass (one Redis round trip and one transaction):
# one by one, each a lease script and two database round trips, a node taking thousands of
# instances at start spent most of its start acquiring. Small enough that the first clients
# start at once.
ACQUIRE_BATCH = 100
# A handover stops the client (the manager bounds that by STOP_TIMEOUT_S) and frees the lease.
HANDOVER_S = 90.0
LOOP_STOP_S = 5.0
# How often the liveness keys of the other live nodes are checked: a killed node's instances are
# taken this soon after its leases expired, not a placement interval later.
WATCH_S = 0.25
# Placement reads the whole set of instances to hold at least this often, whatever its mark
# says (`ClusterNode._wanted`).
WANTED_READ_S = 30.0


class ClusterNode:
    """One node of a cluster (WAGATE_REDIS_URL set)."""

    mode = "cluster"

    def __init__(
        self,
        settings: Settings,
        db: Database,
        manager: ClientManager,
        redis: Redis,
        renewal_redis: SyncRedis,
    ) -> None:
        self.settings = settings
        self.db = db
        self.manager = manager
        self.redis = redis
        self.node_id = settings.node_id
        self.holds_instances = settings.role == "all"
        prefix = settings.cluster_key_prefix
        self.store = LeaseStore(redis, prefix)
        self.registry = NodeRegistry(db, settings.node_id, self.store.alive)
        self.ownership = LeaseOwnership(
            db, self.store, settings.node_id, ttl_s=settings.lease_ttl_s,
            takes_instances=self.holds_instances,
        )  # fmt: skip
        self.ownership.on_lost = self._on_lost
        self.renewer = LeaseRenewer(
            LeaseRenewal(renewal_redis, prefix, settings.node_id), self.ownership,
            ttl_s=settings.lease_ttl_s, interval_s=settings.lease_renew_interval_s,
        )  # fmt: skip
        # Set by the watch when a live node vanished: placement runs at once.
        self._wake = asyncio.Event()
        self._live_others: list[str] = []
        # The set of instances to hold placement read last, its mark, and when it was read.
        self._wanted_seen: tuple[repository.Wanted, repository.WantedMark] | None = None
        self._wanted_read_at = 0.0
        self.relay: EventRelay | None = None
        # Forwards lifecycle calls to other nodes (forwarding.py).
        self.http = httpx.AsyncClient(timeout=settings.forward_timeout_s)
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[Any]] = set()
        self._take_gate = asyncio.Semaphore(TAKE_CONCURRENCY)
        self._stopping = False
        # A lease taken for a lifecycle call on an instance nobody wants connected is kept this
        # long before it is given back (so the call finishes first); a lease just taken is not
        # moved for balance before this long either (no ping-pong between nodes).
        self.idle_grace_s = max(1.0, 5 * settings.placement_interval_s)

    # --- start and stop ----------------------------------------------------------------------

    async def start(self, relay: EventRelay) -> None:
        # The relay is a sink of the event bus, started and stopped with the bus's sinks;
        # the node keeps it for what it tells of the other nodes.
        self.relay = relay
        self.manager.ownership = self.ownership
        # Registered before the first renewal: a node is live once its liveness key is set.
        await self.registry.register(self.settings.role, self.settings.node_address)
        self.renewer.start()
        self._loop("heartbeat", self.registry.heartbeat, self.settings.heartbeat_interval_s)
        if self.holds_instances:
            self._loop("guard", self._guard, min(0.25, self.settings.lease_ttl_s / 10))
            self._loop("placement", self.place, self.settings.placement_interval_s, self._wake)
            self._loop("watch", self._watch, WATCH_S)
        log.info("cluster node started", node=self.node_id, role=self.settings.role)

    def _loop(
        self,
        name: str,
        step: Callable[[], Awaitable[None]],
        every: float,
        wake: asyncio.Event | None = None,
    ) -> None:
        async def run() -> None:
            # Ends on cancel even when a Redis call swallowed the CancelledError (wagate.tasks).
            while not cancel_requested():
                try:
                    await step()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("cluster loop step failed", loop=name, error=repr(exc))
                await self._pause(every, wake)

        self._tasks.append(asyncio.create_task(run(), name=f"cluster-{name}"))

    @staticmethod
    async def _pause(every: float, wake: asyncio.Event | None) -> None:
        if wake is None:
            await asyncio.sleep(every)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), every)
        wake.clear()

    async def stop(self) -> None:
        """SIGTERM: stop taking instances, leave the live set, hand every instance over."""
        self._stopping = True
        for task in self._tasks:
            if task.get_name() == "cluster-placement":
                task.cancel()
        with contextlib.suppress(Exception):
            await self.registry.mark_stopped()
        held = list(self.ownership.active())
        handovers = [
            asyncio.create_task(self.hand_over(iid, give_back=False), name=f"handover:{iid}")
            for iid in held
        ]
        await wait_tasks(handovers, HANDOVER_S, "cluster handover")
        # Every lease in one round trip rather than one each: thousands of concurrent releases
        # opened a Redis connection each.
        await self.ownership.give_back_all(held)
        log.info("cluster node handed over its instances", node=self.node_id, count=len(held))
        await stop_tasks(self._tasks, LOOP_STOP_S, "cluster loops")
        # Takeovers, drops and balance handovers under way: a moment to finish, then stopped.
        await wait_tasks(list(self._background), LOOP_STOP_S, "cluster background")
        # Renewed until every lease was given back (a client being stopped keeps its lease).
        await asyncio.to_thread(self.renewer.stop, LOOP_STOP_S)
        await self.redis.aclose()
        await self.http.aclose()

    # --- leases ------------------------------------------------------------------------------

    async def _guard(self) -> None:
        for lease in self.ownership.expiring():
            why = "lease taken or expired in Redis" if lease.gone else "lease not renewed in time"
            self.ownership.lose(lease.instance_id, why)

    async def _watch(self) -> None:
        """Wake placement as soon as a node that was live is gone (killed: its leases are free,
        as its liveness key expires with them; stopped: it has handed its instances over)."""
        others = self._live_others
        if not others:
            return
        gone = set(others) - await self.store.alive(others)
        if gone:
            log.info("live node gone; placing now", nodes=sorted(gone))
            self._live_others = []
            self._wake.set()

    def _on_lost(self, lease: HeldLease, why: str) -> None:
        # No client may start any more (the lease is marked); stop the running one now.
        self._spawn(self._drop(lease), f"lost:{lease.name}")

    async def _drop(self, lease: HeldLease) -> None:
        try:
            await self.manager.release(lease.name, reason="lease_lost")
        finally:
            await self.ownership.give_back(lease.instance_id)

    def _spawn(self, coro: Awaitable[Any], name: str) -> None:
        async def run() -> None:
            try:
                await coro
            except Exception:
                log.exception("cluster task failed", task=name)

        task = asyncio.create_task(run(), name=name)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def hand_over(self, instance_id: int, *, give_back: bool = True) -> None:
        """Stop the client (its last status written under our token), then free the lease
        (`give_back=False`: the caller frees it, with others)."""
        lease = self.ownership.leases.get(instance_id)
        if lease is None or lease.releasing:
            return
        lease.releasing = True
        try:
            await self.manager.release(lease.name, reason="handover")
        finally:
            if give_back:
                await self.ownership.give_back(instance_id)

    async def take(self, instance_id: int, name: str) -> None:
        async with self._take_gate:
            if self._stopping or instance_id not in self.ownership.leases:
                return
            log.debug("taking over", instance=name)
            try:
                await self.manager.connect(name, remember=False)
            except Exception as exc:
                log.warning("taking over failed", instance=name, error=repr(exc))

    async def lease_holders(self) -> dict[int, Holder]:
        """Who holds each instance now (instances nobody holds are absent)."""
        async with self.db.session() as session:
            ids = await repository.instance_ids(session)
        return await self.store.holders(ids)

    # --- placement ---------------------------------------------------------------------------

    async def _wanted(self) -> repository.Wanted:
        """The instances that should be connected, and the fencing token stored in each row
        (an acquisition's floor: read here, it costs no round trip of its own on a takeover).

        Every pass asks the database for the set's mark, one row; the set itself is read again
        only when the mark moved, or after `WANTED_READ_S`. A node holding 10,000 instances
        read 10,000 rows every pass: a fifth of its CPU while idle, and its database's. A
        floor a little stale is safe (`LeaseOwnership.acquire`)."""
        engines = list(self.manager.engines)
        now = time.monotonic()
        async with self.db.session() as session:
            if self._wanted_seen is not None and now - self._wanted_read_at < WANTED_READ_S:
                mark = await repository.wanted_mark(session, engines)
                if mark == self._wanted_seen[1]:
                    return self._wanted_seen[0]
            wanted, mark = await repository.wanted(session, engines)
        self._wanted_seen = (wanted, mark)
        self._wanted_read_at = now
        return wanted

    async def _existing(self, ids: list[int]) -> set[int]:
        if not ids:
            return set()
        async with self.db.session() as session:
            return await repository.existing(session, ids)

    async def place(self) -> None:
        if self._stopping:
            return
        # Both reads at once: on a takeover every round trip of this pass delays the reconnect.
        (wanted, floors), live_nodes = await asyncio.gather(
            self._wanted(), self.registry.live_holders()
        )
        live = [n.id for n in live_nodes]
        self._live_others = [node for node in live if node != self.node_id]
        held = self.ownership.active()
        await self._give_back_unwanted(wanted, held)
        # Who holds the others; the renewal thread checks ours in Redis on every round (a
        # lease gone there is lost by the guard), so they are not read again: on a node
        # holding 10,000 instances that read was a tenth of its idle CPU.
        active = self.ownership.active()
        mine = {iid: lease.holder for iid, lease in active.items() if not lease.gone}
        holders = await self.store.holders(sorted(set(wanted) - set(mine)))
        holders.update(mine)
        now = time.monotonic()
        # Only another live node can take an instance over: alone, the node moves none, and
        # does not look at each of its instances (10,000 on a large node) every pass.
        releasable = (
            [
                iid
                for iid, lease in active.items()
                if now - lease.acquired_at > self.idle_grace_s
                and self.manager.status_of(lease.name) not in (Status.PAIRING, Status.CONNECTING)
            ]
            if self._live_others
            else []
        )
        decision = plan(
            self.node_id,
            wanted,
            {iid: h.node for iid, h in holders.items()},
            live,
            releasable,
        )
        log.debug("placement", live=live, share=decision.share, room=decision.room)
        taken = 0
        candidates = list(decision.candidates)
        while candidates and taken < decision.room and not self._stopping:
            size = min(ACQUIRE_BATCH, decision.room - taken)
            chunk, candidates = candidates[:size], candidates[size:]
            acquired = await self.ownership.acquire_many(
                {iid: (wanted[iid], floors.get(iid)) for iid in chunk}
            )
            for iid in chunk:
                if iid in acquired:
                    taken += 1
                    self._spawn(self.take(iid, wanted[iid]), f"take:{wanted[iid]}")
        for iid in decision.release:
            log.info("handing over for balance", instance=wanted.get(iid), share=decision.share)
            self._spawn(self.hand_over(iid), f"balance:{iid}")

    async def _give_back_unwanted(self, wanted: dict[int, str], held: dict[int, HeldLease]) -> None:
        now = time.monotonic()
        unwanted = [iid for iid in held if iid not in wanted]
        existing = await self._existing(unwanted)
        for iid in unwanted:
            lease = held[iid]
            if iid not in existing:  # deleted elsewhere: stop whatever still runs here
                await self.manager.release(lease.name, reason="deleted")
                await self.ownership.give_back(iid)
            elif (
                now - lease.last_used > self.idle_grace_s
                and self.manager.status_of(lease.name) not in LIVE
            ):
                await self.hand_over(iid)
