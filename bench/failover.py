"""Failover: how soon a killed node's instances send again, and what a saturated node loses.

Each run starts three real `wagate serve` nodes on a fresh PostgreSQL database and a private
redis-server, links 12 simulator instances (4 per node) and streams async sends through the
two nodes that survive (tests/e2e/failover_scenarios.py, the scenarios the e2e tests assert):

- kill: SIGKILL the third node during the stream; the time from the kill to the first send of
  one of its instances on another node, and to the last of them sending again. Runs alternate
  between the baseline, the former default timings (lease TTL 15 s, renewals every 5 s), and
  the defaults now (A, B, A, B, ...), so that both see the same load on a shared machine;
- saturate: one node's event loop is kept at 100 % of a core in 2.5 s slices for three lease
  TTLs while sends go on; the leases it lost, the instances that moved, the tokens that changed.

    .venv/bin/python -m bench.failover --runs 3
    .venv/bin/python -m bench.failover --runs 3 --only kill
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
from pathlib import Path

from tests.e2e.cluster_support import running_cluster
from tests.e2e.failover_scenarios import (
    DEFAULT_TIMINGS,
    KillResult,
    SaturationResult,
    kill_during_sends,
    saturated_node,
)

from bench.harness import postgres_database
from wagate.db import Database
from wagate.migrate import upgrade_to_head

# The defaults before renewals moved to a thread of their own.
FORMER_TIMINGS = {
    **DEFAULT_TIMINGS,
    "WAGATE_LEASE_TTL_S": "15",
    "WAGATE_LEASE_RENEW_INTERVAL_S": "5",
}


async def one_kill(timings: dict[str, str], run: int, rate: float) -> KillResult:
    with postgres_database() as url, tempfile.TemporaryDirectory() as workdir:
        await asyncio.to_thread(upgrade_to_head, url)
        db = Database(url)
        try:
            async with running_cluster(url, Path(workdir), **timings) as cluster:
                return await kill_during_sends(cluster, db, per_s=rate, run=run)
        finally:
            await db.close()


async def one_saturation(run: int) -> SaturationResult:
    ttl = float(DEFAULT_TIMINGS["WAGATE_LEASE_TTL_S"])
    with postgres_database() as url, tempfile.TemporaryDirectory() as workdir:
        await asyncio.to_thread(upgrade_to_head, url)
        db = Database(url)
        try:
            async with running_cluster(url, Path(workdir), **DEFAULT_TIMINGS) as cluster:
                return await saturated_node(cluster, db, total_s=3 * ttl, slice_s=2.5, run=run)
        finally:
            await db.close()


def summary(label: str, values: list[float]) -> str:
    shown = ", ".join(f"{v:.2f}" for v in values)
    return f"{label}: median {statistics.median(values):.2f} s, max {max(values):.2f} s ({shown})"


async def kills(runs: int, rate: float) -> None:
    results: dict[str, list[KillResult]] = {"former": [], "now": []}
    for run in range(runs):
        for label, timings in (("former", FORMER_TIMINGS), ("now", DEFAULT_TIMINGS)):
            result = await one_kill(timings, run, rate)
            results[label].append(result)
            print(
                f"run {run + 1} {label}: first send {result.first_send_s:.2f} s, all"
                f" {result.taken_over} by {result.last_first_send_s:.2f} s (connected"
                f" {result.first_connect_s:.2f} s), overlaps {len(result.overlaps)}, survivors'"
                f" /healthz up to {result.survivor_lag_s:.2f} s",
                flush=True,
            )
    ttl = DEFAULT_TIMINGS["WAGATE_LEASE_TTL_S"]
    print(
        f"\nSIGKILL to the first send of a taken-over instance (12 instances, 3 nodes,"
        f" {rate:g} async sends/s)"
    )
    for label, name in (("former", "baseline TTL 15 s"), ("now", f"default TTL {ttl} s")):
        firsts = [r.first_send_s for r in results[label]]
        print(summary(f"  {name}, first", firsts))
        print(summary(f"  {name}, all", [r.last_first_send_s for r in results[label]]))
    ratio = statistics.median(r.first_send_s for r in results["former"]) / statistics.median(
        r.first_send_s for r in results["now"]
    )
    print(f"  ratio baseline / default (median first send): {ratio:.1f}x")
    overlaps = sum(len(r.overlaps) for rs in results.values() for r in rs)
    print(f"  instances connected on two nodes at once: {overlaps}")


async def saturations(runs: int) -> None:
    print("\nevent loop of one node busy for three lease TTLs, in 2.5 s slices, sends going on")
    for run in range(runs):
        r = await one_saturation(run)
        print(
            f"  run {run + 1}: {r.cpu_share:.0%} of a core, /healthz up to {r.slow_answer_s:.2f} s,"
            f" {r.accepted} sends accepted; leases lost {r.leases_lost}, instances moved"
            f" {len(r.moved)}, unheld seen {r.unheld_seen}, tokens changed"
            f" {len(r.tokens_changed)}, /v1/cluster refusals {r.refusals[:3]}",
            flush=True,
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", choices=["kill", "saturate"])
    parser.add_argument("--rate", type=float, default=30, help="async sends per second")
    args = parser.parse_args()
    if args.only != "saturate":
        await kills(args.runs, args.rate)
    if args.only != "kill":
        await saturations(args.runs)


if __name__ == "__main__":
    asyncio.run(main())
