"""The lease renewer: a thread with its own synchronous Redis connection that renews every lease
of the node, and the node's liveness key, in one round trip every `lease_renew_interval_s`.

Why a thread: renewals from the event loop wait for the loop's turn, so a loop busy for a second
or two (a burst of requests, a large body to parse) made a short TTL unsafe: the node missed its
renewals, stopped its clients and the instances moved. The thread needs the GIL only for a few
milliseconds per round, which it gets within the interpreter's switch interval even while the
loop keeps a core busy.

What the thread cannot do in time still fails safe. Each lease's deadline (`valid_until`) runs
from before the renewal was sent; the node stops sending for the instance a quarter of the TTL
before that deadline (`LeaseOwnership.may_run`, checked before every send), and the guard stops
its client. So when the thread is starved or Redis answers late, the node gives the instance up
before the lease can expire in Redis, and so before another node can take it; whatever it still
writes carries its old fencing token and is refused.
"""

from __future__ import annotations

import threading
import time

import redis
import structlog

from .leases import LeaseRenewal
from .ownership import LeaseOwnership

log = structlog.get_logger(__name__)

# After a failed round the next one is tried this fraction of the interval later.
RETRY_FRACTION = 0.2


class LeaseRenewer:
    def __init__(
        self,
        renewal: LeaseRenewal,
        ownership: LeaseOwnership,
        *,
        ttl_s: float,
        interval_s: float,
    ) -> None:
        self.renewal = renewal
        self.ownership = ownership
        self.ttl_ms = int(ttl_s * 1000)
        self.interval_s = interval_s
        # A round that starts this much after its time is reported: the renewals are running
        # short of their margin (GIL or CPU starvation).
        self.late_after_s = max(interval_s, ttl_s / 4)
        self.rounds = 0
        self.failures = 0
        self._failing = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wagate-lease-renewer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float) -> None:
        """End the thread and delete the liveness key (the node has handed its leases over)."""
        self._stop.set()
        self._thread.join(timeout_s)
        try:
            self.renewal.forget()
        except redis.RedisError as exc:  # it expires by itself within a TTL
            log.warning("liveness key not deleted", error=repr(exc))
        self.renewal.redis.close()

    def _run(self) -> None:
        due = time.monotonic()
        while not self._stop.wait(max(0.0, due - time.monotonic())):
            started = time.monotonic()
            if started - due > self.late_after_s:
                log.warning("lease renewal late", late_s=round(started - due, 3))
            ok = self.renew_once()
            due = started + self.interval_s * (1 if ok else RETRY_FRACTION)

    def renew_once(self) -> bool:
        """One round: every lease and the liveness key. False when Redis could not be asked."""
        leases = self.ownership.renewable()
        started = time.monotonic()
        try:
            results = self.renewal.renew(leases, self.ttl_ms)
        except Exception as exc:  # the thread must go on: the next round may succeed in time
            self.failures += 1
            if not self._failing:
                log.warning("lease renewal failed", error=repr(exc))
            self._failing = True
            return False
        if self._failing:
            log.info("lease renewal works again")
        self._failing = False
        self.rounds += 1
        for lease, ok in zip(leases, results, strict=True):
            if ok:
                self.ownership.renewed(lease, started)
            else:
                lease.gone = True  # the guard stops its client; may_run is False from now
        return True
