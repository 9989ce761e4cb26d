"""Private RabbitMQ and NATS servers for the broker sink tests: Debian's `rabbitmq-server`
and `nats-server -js`, each a process of the test's own, on loopback ports of
WAGATE_TEST_BROKER_PORTS (default 20300-20399), with their data in a temp directory (kept
across a restart, so a durable exchange, queue or stream outlives a stop). A server that
cannot start fails the test: these tests never skip."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

RABBITMQ = "/usr/lib/rabbitmq/bin/rabbitmq-server"  # as root, /usr/sbin's would su rabbitmq
START_S = 60.0


def _port_range() -> range:
    low, _, high = os.environ.get("WAGATE_TEST_BROKER_PORTS", "20300-20399").partition("-")
    return range(int(low), int(high) + 1)


_taken: set[int] = set()


def free_port() -> int:
    """A loopback port of the range that nothing listens on (nor was handed out here)."""
    for port in _port_range():
        if port in _taken:
            continue
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        _taken.add(port)
        return port
    raise RuntimeError("no free port in WAGATE_TEST_BROKER_PORTS")


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _wait_listening(process: subprocess.Popen[bytes], port: int, what: str, log: Path) -> None:
    deadline = time.monotonic() + START_S
    while not _listening(port):
        if process.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{what} did not start on port {port}:\n{tail}")
        time.sleep(0.1)


def _stop_group(process: subprocess.Popen[bytes] | None, *, kill: bool) -> None:
    """Stop the process and the children it started (its own process group)."""
    if process is None or process.poll() is not None:
        return
    with_signal = signal.SIGKILL if kill else signal.SIGTERM
    try:
        os.killpg(process.pid, with_signal)
    except ProcessLookupError:
        return
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


class RabbitMQ:
    """A RabbitMQ node of its own (name, ports, epmd, mnesia), restartable on the same port."""

    def __init__(self, workdir: Path) -> None:
        if not Path(RABBITMQ).exists():
            raise RuntimeError(f"{RABBITMQ} is missing: scripts/setup.sh --test installs it")
        self.workdir = workdir
        self.port = free_port()
        self.dist_port = free_port()
        self.epmd_port = free_port()
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/"
        self.process: subprocess.Popen[bytes] | None = None
        self.epmd: subprocess.Popen[bytes] | None = None
        for sub in ("mnesia", "log"):
            (workdir / sub).mkdir(parents=True, exist_ok=True)
        (workdir / "enabled_plugins").write_text("[].\n")
        (workdir / "rabbitmq.conf").write_text(
            f"listeners.tcp.default = 127.0.0.1:{self.port}\n"
            "loopback_users = none\n"
            f"distribution.listener.interface = 127.0.0.1\n"
        )

    def env(self) -> dict[str, str]:
        w = self.workdir
        return {
            **os.environ,
            "HOME": str(w),
            "RABBITMQ_NODENAME": f"wagate{self.port}@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "ERL_EPMD_PORT": str(self.epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_MNESIA_BASE": str(w / "mnesia"),
            "RABBITMQ_LOG_BASE": str(w / "log"),
            "RABBITMQ_CONFIG_FILE": str(w / "rabbitmq"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(w / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(w / "rabbitmq.pid"),
        }

    def start(self) -> None:
        env = self.env()
        if self.epmd is None or self.epmd.poll() is not None:
            # Our own epmd, in the foreground, so that it goes with the test (one that
            # Erlang starts itself daemonizes and outlives everything).
            self.epmd = subprocess.Popen(
                [shutil.which("epmd") or "epmd", "-port", str(self.epmd_port)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        log = self.workdir / "server.log"
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [RABBITMQ],
                env=env,
                cwd=self.workdir,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait_listening(self.process, self.port, "rabbitmq-server", log)

    def stop(self, *, kill: bool = False) -> None:
        _stop_group(self.process, kill=kill)

    def close(self) -> None:
        self.stop(kill=True)
        _stop_group(self.epmd, kill=True)


class Nats:
    """A nats-server with JetStream, its store in the work directory, restartable."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("nats-server") or "/usr/sbin/nats-server"
        if not Path(binary).exists():
            raise RuntimeError("nats-server is missing: scripts/setup.sh --test installs it")
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.url = f"nats://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        (workdir / "store").mkdir(parents=True, exist_ok=True)

    def start(self) -> None:
        log = self.workdir / "server.log"
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [self.binary, "-js", "-a", "127.0.0.1", "-p", str(self.port),
                 "-sd", str(self.workdir / "store")],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        _wait_listening(self.process, self.port, "nats-server", log)

    def stop(self, *, kill: bool = False) -> None:
        _stop_group(self.process, kill=kill)

    def close(self) -> None:
        self.stop(kill=True)
