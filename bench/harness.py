"""Processes, load generation and measurement for the benchmark."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
ADMIN_TOKEN = "wga_bench_admin_token_0123456789abcdef"
PG_SERVER = os.environ.get("WAGATE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_http(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its reaped children."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(fields[i]) for i in (11, 12)) / CLK_TCK


def database_backends(database_url: str) -> list[int]:
    """The pids of the PostgreSQL backends connected to the database of `database_url` (the
    server is shared: other databases' backends are left out)."""
    name = database_url.rsplit("/", 1)[1]
    found = subprocess.run(
        [
            "psql",
            f"{PG_SERVER}/postgres",
            "-Atc",
            f"SELECT pid FROM pg_stat_activity WHERE datname = '{name}'",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [int(pid) for pid in found.split()]


def backends_cpu(database_url: str) -> dict[int, float]:
    """CPU seconds so far of each backend of the database (on this machine: read from /proc)."""
    cpu = {}
    for pid in database_backends(database_url):
        with contextlib.suppress(OSError):  # gone since the query
            cpu[pid] = cpu_seconds(pid)
    return cpu


def backends_cpu_since(database_url: str, before: dict[int, float]) -> float:
    """CPU seconds the database's backends used since `before` (a backend opened since counts
    whole; one closed since is not seen: the gateway's pools keep theirs open)."""
    after = backends_cpu(database_url)
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def database_writes(database_url: str) -> tuple[int, int] | None:
    """(transactions committed, rows inserted + updated + deleted) so far in the database, from
    PostgreSQL's statistics (a busy backend reports them at most a second late: a
    drain-long difference is off by less than that); None when the server refuses a look."""
    name = database_url.rsplit("/", 1)[1]
    query = (
        f"SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = '{name}'),"
        " (SELECT coalesce(sum(n_tup_ins + n_tup_upd + n_tup_del), 0) FROM pg_stat_user_tables)"
    )
    found = subprocess.run(
        ["psql", f"{PG_SERVER}/{name}", "-Atc", query], capture_output=True, text=True
    )
    if found.returncode != 0:
        return None
    commits, rows = found.stdout.strip().split("|")
    return int(commits), int(rows)


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


@dataclass
class Proc:
    popen: subprocess.Popen[bytes]
    url: str
    log: Path

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()


@contextmanager
def process(
    args: list[str],
    url: str,
    env: dict[str, str] | None = None,
    health: str = "/healthz",
    cwd: Path | None = None,
    start_timeout: float = 60.0,
) -> Iterator[Proc]:
    log = Path(tempfile.mkstemp(prefix="wagate-bench-", suffix=".log")[1])
    with log.open("wb") as out:
        popen = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, cwd=cwd
        )
    proc = Proc(popen, url, log)
    try:
        wait_http(url + health, start_timeout)
        yield proc
    except Exception:
        sys.stderr.write(log.read_text()[-3000:])
        raise
    finally:
        proc.stop()


# --- backends ------------------------------------------------------------------------------


@contextmanager
def postgres_database() -> Iterator[str]:
    name = f"wagate_bench_{uuid.uuid4().hex[:8]}"
    subprocess.run(
        ["psql", f"{PG_SERVER}/postgres", "-qc", f'CREATE DATABASE "{name}"'], check=True
    )
    try:
        yield PG_SERVER.replace("postgresql://", "postgresql+asyncpg://", 1) + "/" + name
    finally:
        subprocess.run(
            [
                "psql",
                f"{PG_SERVER}/postgres",
                "-qc",
                f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
            ],
            check=False,
        )


@contextmanager
def redis_server() -> Iterator[str]:
    """A private redis-server, so the benchmark never touches anyone else's keys."""
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="wagate-bench-redis-")
    popen = subprocess.Popen(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            if (
                subprocess.run(
                    ["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True
                ).stdout.strip()
                == "PONG"
            ):
                break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        popen.terminate()
        popen.wait()
        shutil.rmtree(workdir, ignore_errors=True)


@contextmanager
def gateway(
    database_url: str | None,
    redis_url: str | None,
    data_dir: Path,
    extra_env: dict[str, str] | None = None,
    start_timeout: float = 60.0,
) -> Iterator[Proc]:
    port = free_port()
    env = {
        "WAGATE_ADMIN_TOKEN": ADMIN_TOKEN,
        "WAGATE_ENGINE": "simulator",
        "WAGATE_DATA_DIR": str(data_dir),
        "WAGATE_LOG_LEVEL": "warning",
        "WAGATE_NODE_ID": f"bench-{port}",
    }
    if database_url:
        env["WAGATE_DATABASE_URL"] = database_url
    if redis_url:
        env["WAGATE_REDIS_URL"] = redis_url
    env.update(extra_env or {})
    # Unset inherited WAGATE_* that would change the run.
    for key in list(os.environ):
        if key.startswith("WAGATE_") and key not in env and not key.startswith("WAGATE_TEST"):
            env[key] = ""
    args = [str(VENV_BIN / "wagate"), "serve", "--port", str(port)]
    url = f"http://127.0.0.1:{port}"
    with process(args, url, env, cwd=data_dir, start_timeout=start_timeout) as proc:
        yield proc


# --- load ----------------------------------------------------------------------------------


@dataclass
class WrkResult:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    non_2xx: int
    wrk_cpu_s: float
    duration_s: float


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}

WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
local n = {instances}
local counter = {offset}
request = function()
  counter = counter + 1
  local path = "/v1/instances/{prefix}" .. (counter % n) .. "/send/text{query}"
  local body = '{{"to":"+5511999{number}","text":"hello from the benchmark"}}'
  return wrk.format(nil, path, nil, body)
end
"""


def _latency_ms(text: str, percentile: str) -> float:
    match = re.search(rf"^\s*{percentile}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    if not match:
        return float("nan")
    return float(match.group(1)) * _UNITS[match.group(2)]


def wrk(
    url: str,
    *,
    instances: int,
    prefix: str,
    query: str = "",
    duration_s: int = 10,
    connections: int = 16,
    threads: int = 1,
    timeout_s: int = 10,
) -> WrkResult:
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    script.write_text(
        WRK_SCRIPT.format(
            token=ADMIN_TOKEN,
            instances=instances,
            prefix=prefix,
            query=query,
            offset=0,
            number="12345",
        )
    )
    started = time.monotonic()
    before = os.times()
    result = subprocess.run(
        [
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{duration_s}s",
            "--timeout",
            f"{timeout_s}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    after = os.times()
    out = result.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non_2xx_match = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return WrkResult(
        requests_per_s=rps,
        p50_ms=_latency_ms(out, "50"),
        p99_ms=_latency_ms(out, "99"),
        requests=total,
        errors=errors,
        non_2xx=int(non_2xx_match.group(1)) if non_2xx_match else 0,
        wrk_cpu_s=(after.children_user + after.children_system)
        - (before.children_user + before.children_system),
        duration_s=time.monotonic() - started,
    )
