"""wagate benchmark: one command, everything in one go; prints a table and the ratios against
the ceiling measured in the same run, and writes bench/RESULTS.md.

    bash bench/run.sh            # everything (about 10 minutes)
    bash bench/run.sh --only ceiling,async
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import scenarios
from bench.harness import Proc
from bench.scenarios import Row, log

PG_REDIS = "postgres+redis"
EMBEDDED = "sqlite (embedded)"
WORKER = scenarios.WORKER_PROCESS  # one `wagate serve` with its instances in a child process


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    pg = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
    redis = subprocess.run(
        ["redis-server", "--version"], capture_output=True, text=True
    ).stdout.split(" sha")[0]
    return (
        f"{os.cpu_count()} cores ({cpu}), {int(mem) // 2**20} GiB, "
        f"{platform.platform()}, Python {platform.python_version()}, {pg}, {redis}"
    )


def table(rows: list[Row]) -> str:
    lines = ["| scenario | backend | figures |", "|---|---|---|"]
    for row in rows:
        figures = ", ".join(f"{k} {v}" for k, v in row.figures.items())
        lines.append(f"| {row.name} | {row.backend} | {figures} |")
    return "\n".join(lines)


def find(rows: list[Row], prefix: str, backend: str | None = None, where: str = "") -> Row | None:
    for row in rows:
        if (
            row.name.startswith(prefix)
            and (backend is None or row.backend == backend)
            and row.name.endswith(where)
        ):
            return row
    return None


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def accept_target(
    accept: Row | None, ceiling: Row | None, label: str, ratio_min: float
) -> list[str]:
    if accept is None or ceiling is None:
        return []
    ratio = accept.figures["msg/s"] / ceiling.figures["req/s"]
    p99 = accept.figures["p99 ms"]
    ok = ratio >= ratio_min and p99 <= 25
    return [
        f"- async accept / ceiling ({label}): {ratio:.2f} (target >= {ratio_min:.2f}), "
        f"p99 {p99} ms (target <= 25): {verdict(ok)}"
    ]


def drain_target(drain: Row | None, label: str, rate_min: int) -> list[str]:
    if drain is None:
        return []
    rate = drain.figures["msg/s"]
    ok = rate >= rate_min
    return [f"- drain ({label}): {rate} msg/s (target >= {rate_min:,}): {verdict(ok)}"]


def targets(rows: list[Row]) -> list[str]:
    out = []
    ceiling = find(rows, "ceiling")
    sync = find(rows, "sync", PG_REDIS)
    # Issue 9: PostgreSQL + Redis as an API node beside the holder node.
    two = f"{PG_REDIS}, two nodes"
    accept = find(rows, "async accept", PG_REDIS, scenarios.TWO_NODES)
    out += accept_target(accept, ceiling, two, 0.5)
    if accept and sync:
        ratio = accept.figures["msg/s"] / max(1, sync.figures["msg/s"])
        out.append(
            f"- async accept / sync sends ({two}): {ratio:.1f}x (target >= 10x): "
            f"{verdict(ratio >= 10)}"
        )
    out += drain_target(find(rows, "drain", PG_REDIS, scenarios.TWO_NODES), two, 1000)
    # Issue 23: one `wagate serve` as a user starts it, on each backend.
    for backend, ratio_min, rate_min in ((EMBEDDED, 0.5, 1500), (PG_REDIS, 0.8, 2500)):
        for extra in ("", scenarios.variant(WORKER)):
            one = f"{backend}, one node{extra}"
            where = scenarios.ONE_NODE + extra
            accept = find(rows, "async accept", backend, where)
            out += accept_target(accept, ceiling, one, ratio_min)
            out += drain_target(find(rows, "drain", backend, where), one, rate_min)
    hooks = find(rows, "webhook")
    if hooks:
        rate = hooks.figures["deliveries/s"]
        out.append(f"- webhook delivery: {rate}/s (target >= 1,000): {verdict(rate >= 1000)}")
    big = find(rows, "scale: 1000")
    if big:
        mib = big.figures["RSS MiB"]
        out.append(f"- 1,000 instances: {mib} MiB RSS (target < 1024): {verdict(mib < 1024)}")
    return out


def main() -> int:  # noqa: C901
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="", help="comma list of scenario keys")
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--no-write", action="store_true", help="do not write RESULTS.md")
    args = parser.parse_args()
    d = args.duration
    only = {k for k in args.only.split(",") if k}

    def selected(key: str) -> bool:
        return not only or key in only

    bare: list[Proc] = []  # the ceiling's process, up from its first run to the end
    ceiling_runs: list[dict[str, Any]] = []

    def ceiling() -> None:
        ceiling_runs.append(scenarios.ceiling_run(bare[0], d))

    # The ceiling runs right before the async accepts and, when both are selected, right
    # after them: the ratios are against their mean (the machine's speed drifts within
    # minutes).
    plan: list[tuple[str, Callable[[], Row | None]]] = [
        ("sync", lambda: scenarios.sends(PG_REDIS, "sync", d)),
        ("ceiling", ceiling),
        ("async", lambda: scenarios.sends(PG_REDIS, "async", d)),
        ("async-single", lambda: scenarios.sends(PG_REDIS, "async", d, single=True)),
        ("async-worker", lambda: scenarios.sends(PG_REDIS, "async", d, single=True, env=WORKER)),
        ("async-embedded", lambda: scenarios.sends(EMBEDDED, "async", d)),
        ("ceiling (after the async accept)", ceiling),
        ("drain", lambda: scenarios.drain(PG_REDIS)),
        ("drain-single", lambda: scenarios.drain(PG_REDIS, single=True)),
        ("drain-worker", lambda: scenarios.drain(PG_REDIS, single=True, env=WORKER)),
        ("drain-embedded", lambda: scenarios.drain(EMBEDDED)),
        ("webhooks", lambda: scenarios.webhooks(PG_REDIS)),
        ("scale100", lambda: scenarios.scale(PG_REDIS, 100)),
        ("scale1000", lambda: scenarios.scale(PG_REDIS, 1000)),
    ]
    wanted = [(key, run) for key, run in plan if selected(key.split(" ")[0])]
    accepts = ("async", "async-single", "async-worker", "async-embedded")
    if not (selected("ceiling") and any(selected(key) for key in accepts)):
        wanted = [(key, run) for key, run in wanted if key != "ceiling (after the async accept)"]
    load_before = os.getloadavg()
    rows: list[Row] = []
    failures: list[str] = []
    with contextlib.ExitStack() as stack:
        if selected("ceiling"):
            bare.append(stack.enter_context(scenarios.ceiling_server()))
        for key, run in wanted:
            log(f"== {key}")
            started = time.monotonic()
            try:
                row = run()
            except Exception as exc:
                traceback.print_exc()
                failures.append(f"- {key}: FAILED ({type(exc).__name__}: {exc})")
                continue
            figures = row.figures if row is not None else ceiling_runs[-1]
            log(f"   {figures} ({time.monotonic() - started:.0f} s)")
            if row is not None:
                rows.append(row)
    if ceiling_runs:
        rows.insert(0, scenarios.ceiling_row(ceiling_runs))
    report = "\n".join(
        [
            "# wagate benchmark results",
            "",
            f"Machine: {machine()}",
            "",
            "Command: `bash bench/run.sh" + (f" --only {args.only}" if args.only else "") + "`",
            f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
            "Load average (1/5/15 min) when the run started: "
            + " / ".join(f"{x:.2f}" for x in load_before)
            + " (other work on the machine shares its 2 cores)",
            "",
            table(rows),
            "",
            "Targets (issue 9: PostgreSQL + Redis as two nodes; issue 23: one `wagate serve` on "
            "each backend; this 2-core machine; ratios against the ceiling and the sync run "
            "measured above, the ceiling's rate the mean of its runs right before and right "
            "after the async accepts):",
            *targets(rows),
            *failures,
            "",
            "Load generator: wrk (1 thread, compiled). `wrk CPU %` next to `server CPU %` shows it "
            "is not the bottleneck: on the ceiling run the server process is busy while wrk uses "
            "a fraction of a core.",
        ]
    )
    notes = Path(__file__).with_name("before_after.md")
    if notes.exists():  # what changed and the figures before/after each change (kept by hand)
        report += "\n\n" + notes.read_text().strip()
    print(report)
    if not args.no_write and not only:
        Path(__file__).with_name("RESULTS.md").write_text(report + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
