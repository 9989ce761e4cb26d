"""The cluster's ownership gate, `LeaseOwnership` (the gate's interface, `Ownership`, and the
single node's `LocalOwnership` are in wagate/engines/ownership.py, beside the client manager
that consults them; the cluster hands this one in at start).

- `LeaseOwnership`: the node runs an instance only while it holds the instance's
  lease (`leases.py`), and every status write carries the lease's fencing token: the write is
  `UPDATE instances … WHERE fencing_token = <ours>`, so once another node has taken the
  instance (and written its larger token) a stale holder's writes change nothing.

The send worker uses `fencing_token(name)` when it takes a message and `still_holds(name,
token)` before it records the outcome.

The leases are renewed by a thread (renewer.py), not by the event loop: the loop tells it which
leases the node holds (`leases`, changed under `lock`) and the thread moves each lease's
deadline (`valid_until`) or marks it `gone`. Both are plain attributes read on every check, so
a send stops the moment a deadline passes, however late the event loop runs; the guard then
stops the client.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from wagate.cluster import repository
from wagate.db import Database, utcnow
from wagate.engines.base import NotConnectedError

from .leases import Holder, LeaseStore

log = structlog.get_logger(__name__)


class NotHeld(NotConnectedError):
    """This node does not hold the instance (another node does, or it is being handed over)."""


@dataclass(eq=False)
class HeldLease:
    instance_id: int
    name: str
    holder: Holder
    valid_until: float  # time.monotonic(): the lease surely lives in Redis until then
    acquired_at: float
    last_used: float
    releasing: bool = False
    # Set by the renewal thread: Redis says the lease is no longer ours (expired or taken).
    gone: bool = False


class LeaseOwnership:
    def __init__(
        self,
        db: Database,
        store: LeaseStore,
        node_id: str,
        *,
        ttl_s: float,
        takes_instances: bool = True,
    ) -> None:
        self.db = db
        self.store = store
        self.node_id = node_id
        self.ttl_s = ttl_s
        # Stop a client this long before the lease could expire in Redis: the time it takes
        # to stop it, with room for a slow event loop.
        self.stop_margin_s = ttl_s / 4
        self.takes_instances = takes_instances
        self.leases: dict[int, HeldLease] = {}
        # Guards `leases` against the renewal thread's reads.
        self.lock = threading.Lock()
        self.ids: dict[str, int] = {}
        # Called (synchronously) when a lease is lost: the runtime stops the client.
        self.on_lost: Callable[[HeldLease, str], None] = lambda lease, why: None

    # --- the gate ----------------------------------------------------------------------------

    async def claim(self, instance_id: int, name: str) -> None:
        if not self.takes_instances:
            raise NotHeld("this node holds no instance (WAGATE_ROLE=api)")
        lease = self.leases.get(instance_id)
        if lease is not None and lease.releasing:
            raise NotHeld(f"instance '{name}' is being handed over to another node; retry")
        if lease is not None and self.may_run(instance_id):
            lease.last_used = time.monotonic()
            return
        if lease is None and await self.acquire(instance_id, name):
            return
        holder = await self.store.holder(instance_id)
        where = f"node '{holder.node}'" if holder else "another node"
        raise NotHeld(f"instance '{name}' is held by {where}")

    def may_run(self, instance_id: int) -> bool:
        lease = self.leases.get(instance_id)
        if lease is None or lease.releasing or lease.gone:
            return False
        return time.monotonic() < lease.valid_until - self.stop_margin_s

    async def write(self, session: AsyncSession, instance_id: int, fields: dict[str, Any]) -> bool:
        (written,) = await self.write_many(session, [(instance_id, fields)])
        return written

    async def write_many(
        self, session: AsyncSession, writes: list[tuple[int, dict[str, Any]]]
    ) -> list[bool]:
        # Each row has its own fencing token and answer, yet one executemany per run of the same
        # columns: a node connecting thousands of instances wrote a statement per status change.
        now = utcnow()
        leases = [self.leases.get(instance_id) for instance_id, _ in writes]
        fenced: list[tuple[int, int, dict[str, Any]]] = []
        for (instance_id, fields), lease in zip(writes, leases, strict=True):
            if lease is None:
                log.warning(
                    "write refused: lease not held", instance_id=instance_id, fields=list(fields)
                )
            else:
                fenced.append((instance_id, lease.holder.token, {"updated_at": now, **fields}))
        written = iter(await repository.write_fenced_many(session, fenced))
        answers: list[bool] = []
        for lease in leases:
            ok = lease is not None and next(written)
            if lease is not None and not ok:
                log.warning("write refused: fencing token superseded", instance=lease.name)
                self.lose(lease.instance_id, "fencing token superseded")
            answers.append(ok)
        return answers

    def fencing_token(self, name: str) -> int | None:
        instance_id = self.ids.get(name)
        if instance_id is None or not self.may_run(instance_id):
            return None
        return self.leases[instance_id].holder.token

    async def still_holds(self, name: str, token: int) -> bool:
        instance_id = self.ids.get(name)
        if instance_id is None or not self.may_run(instance_id):
            return False
        holder = await self.store.holder(instance_id)
        return holder == Holder(self.node_id, token)

    # --- leases ------------------------------------------------------------------------------

    def held(self) -> dict[int, HeldLease]:
        return dict(self.leases)

    async def acquire(self, instance_id: int, name: str, floor: int | None = None) -> bool:
        """Take the lease if it is free and write its token to the instance row. `floor`: the
        token stored in the row, when the caller has just read it (else it is read here). A
        floor read a moment ago is safe: if it is stale and Redis lost its counter, the token
        may not exceed the row's, the row's write below then refuses it and the lease is given
        back; the next pass reads afresh."""
        return instance_id in await self.acquire_many({instance_id: (name, floor)})

    async def acquire_many(self, wanted: dict[int, tuple[str, int | None]]) -> set[int]:
        """`acquire` for each instance id -> (name, floor), with one Redis round trip and one
        transaction for them all (a node taking thousands of instances at start paid both for
        each). The ids whose lease this node now holds."""
        if not self.takes_instances:
            return set()
        wanted = {iid: w for iid, w in wanted.items() if iid not in self.leases}
        unread = [iid for iid, (_, floor) in wanted.items() if floor is None]
        read: dict[int, int | None] = {}
        if unread:
            async with self.db.session() as session:
                read = await repository.fencing_tokens(session, unread)
        floors = {
            iid: (floor if floor is not None else read.get(iid)) or 0
            for iid, (_, floor) in wanted.items()
        }
        started = time.monotonic()
        tokens = await self.store.acquire_many(floors, self.node_id, int(self.ttl_s * 1000))
        if not tokens:
            return set()
        async with self.db.transaction() as session:
            written = await repository.raise_fencing_tokens(session, tokens)
        now = time.monotonic()
        refused: dict[int, Holder] = {}
        for iid, token in tokens.items():
            holder = Holder(self.node_id, token)
            if iid not in written:  # deleted meanwhile, or a stale floor: given back
                refused[iid] = holder
                continue
            name = wanted[iid][0]
            with self.lock:
                self.leases[iid] = HeldLease(iid, name, holder, started + self.ttl_s, now, now)
            self.ids[name] = iid
            log.debug("lease acquired", instance=name, token=token)
        if refused:
            await self.store.release_many(refused)
        log.info("leases acquired", count=len(written))
        return written

    def renewable(self) -> list[HeldLease]:
        """The leases to renew now (called by the renewal thread)."""
        with self.lock:
            return [lease for lease in self.leases.values() if not lease.gone]

    def renewed(self, lease: HeldLease, started: float) -> None:
        """Redis renewed the lease in a call sent at `started` (called by the renewal thread):
        it lives there at least a TTL after that."""
        lease.valid_until = max(lease.valid_until, started + self.ttl_s)

    def lose(self, instance_id: int, why: str) -> None:
        """From now on no client of the instance may run here; the runtime stops the client.

        Writes still carry the old token until the lease is given back: the database accepts
        the last status ("disconnected") only if no other node has taken the instance since.
        """
        lease = self.leases.get(instance_id)
        if lease is None or lease.releasing:
            return
        lease.releasing = True
        log.warning("lease lost", instance=lease.name, reason=why)
        self.on_lost(lease, why)

    def active(self) -> dict[int, HeldLease]:
        """Held leases that are not being given back."""
        return {iid: lease for iid, lease in self.leases.items() if not lease.releasing}

    def expiring(self) -> list[HeldLease]:
        """Leases not renewed in time: their clients must stop now."""
        limit = time.monotonic() + self.stop_margin_s
        return [
            lease
            for lease in self.leases.values()
            if not lease.releasing and (lease.gone or lease.valid_until <= limit)
        ]

    async def give_back(self, instance_id: int) -> None:
        """Release a lease in Redis after its client was stopped (handover)."""
        lease = self._forget(instance_id)
        if lease is None:
            return
        try:
            await self.store.release(instance_id, lease.holder)
        except Exception as exc:  # it expires by itself
            log.warning("lease release failed", instance=lease.name, error=str(exc))

    async def give_back_all(self, instance_ids: list[int]) -> None:
        """Release these leases in one round trip (a stopping node, its clients stopped)."""
        leases = {i: lease.holder for i in instance_ids if (lease := self._forget(i)) is not None}
        try:
            await self.store.release_many(leases)
        except Exception as exc:  # they expire by themselves
            log.warning("lease release failed", count=len(leases), error=str(exc))

    def _forget(self, instance_id: int) -> HeldLease | None:
        with self.lock:  # the renewal thread reads the leases
            lease = self.leases.pop(instance_id, None)
        if lease is not None and self.ids.get(lease.name) == instance_id:
            del self.ids[lease.name]
        return lease
