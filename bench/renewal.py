"""What one round of lease renewals costs the node holding them: the renewal thread's CPU
(client side) and the round's wall time, for a node holding many leases, on a private
redis-server.

    .venv/bin/python -m bench.renewal [--leases 10000] [--rounds 40]

Writes `--leases` leases of node "a", renews them once (the first round writes what the
rounds after it reuse), then times `--rounds` rounds of `LeaseRenewal.renew` with the leases
unchanged, as on a settled node, and one round after a single lease changed.
"""

from __future__ import annotations

import argparse
import time
from typing import NamedTuple

import redis

from bench.harness import redis_server
from wagate.cluster.leases import Holder, LeaseRenewal, lease_key

TTL_MS = 60_000


class Lease(NamedTuple):
    instance_id: int
    holder: Holder


def timed(renewal: LeaseRenewal, leases: list[Lease], rounds: int) -> tuple[float, float]:
    """(thread CPU ms, wall ms) per round; every lease must come back renewed."""
    cpu, wall = time.thread_time(), time.perf_counter()
    for _ in range(rounds):
        renewed = renewal.renew(leases, TTL_MS)
    cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
    assert all(renewed), "a lease was not renewed"
    return 1000 * cpu / rounds, 1000 * wall / rounds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leases", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=40)
    args = parser.parse_args()
    with redis_server() as url:
        client = redis.Redis.from_url(url)
        leases = [Lease(i, Holder("a", i + 1)) for i in range(args.leases)]
        with client.pipeline(transaction=False) as pipe:
            for lease in leases:
                pipe.set(lease_key("b:", lease.instance_id), f"a|{lease.holder.token}", px=TTL_MS)
            pipe.execute()
        renewal = LeaseRenewal(client, "b:", "a")
        first_cpu, first_wall = timed(renewal, leases, 1)
        cpu, wall = timed(renewal, leases, args.rounds)
        # One lease taken again with a new token: the node's leases changed.
        client.set(lease_key("b:", 0), "a|0", px=TTL_MS)
        leases[0] = Lease(0, Holder("a", 0))
        changed_cpu, changed_wall = timed(renewal, leases, 1)
        client.close()
    print(
        f"{args.leases} leases, CPU / wall ms a round: first {first_cpu:.2f} / {first_wall:.2f},"
        f" unchanged {cpu:.2f} / {wall:.2f} (mean of {args.rounds}),"
        f" after a change {changed_cpu:.2f} / {changed_wall:.2f}"
    )


if __name__ == "__main__":
    main()
