"""A host session's pairing logic, QR watchdog and connect-failure cap, on a real neonize
client that never dials (QR callbacks are driven by hand, as the Go side would call them)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from neonize.aioze.client import NewAClient

from wagate.engines.base import (
    ConnectFailed,
    ConnectionLost,
    NotPairingError,
    QrCode,
    QrTimeout,
)
from wagate.engines.whatsmeow import session as session_module
from wagate.engines.whatsmeow.gate import LifecycleGate
from wagate.engines.whatsmeow.session import Session


class HostDouble:
    """What a Session uses of its Host: the event channel, task spawning, the lifecycle gate."""

    def __init__(self) -> None:
        self.events: list[tuple[int, str, Any]] = []
        self.gate = LifecycleGate()
        self.connect_attempts = 3
        self.max_media_bytes = 1000
        self.stop_wait_s = 1.0
        self.tasks: set[asyncio.Task[Any]] = set()

    def emit(self, instance_id: int, token: str, event: Any) -> None:
        self.events.append((instance_id, token, event))

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        return task

    def proxy(self, own: str | None = None) -> None:
        return None

    def of(self, kind: type) -> list[Any]:
        return [event for _, _, event in self.events if isinstance(event, kind)]


@pytest.fixture
def pairing(tmp_path: Path) -> tuple[Session, HostDouble, list[str]]:
    host = HostDouble()
    session = Session(host, 7)  # type: ignore[arg-type]
    client = NewAClient(str(tmp_path / "s.sqlite3"), uuid=f"session-{tmp_path.name}")
    asked: list[str] = []

    async def pair_phone(phone: str, show_push_notification: bool) -> str:
        asked.append(phone)
        return "ABCD-EFGH"

    client.PairPhone = pair_phone
    session.client = client
    session.token, session.state = "tok", "connecting"  # what start() sets before it dials
    return session, host, asked


async def test_pair_code_comes_from_the_first_qr_callback(
    pairing: tuple[Session, HostDouble, list[str]],
) -> None:
    session, host, asked = pairing
    waiting = asyncio.create_task(session.pair_phone("5511987654321"))
    await asyncio.sleep(0.05)
    assert not waiting.done() and not asked  # no websocket yet: wait for the QR phase

    before = datetime.now(UTC)
    await session._on_qr(session.client, b"2@first,code")
    assert await asyncio.wait_for(waiting, 2) == "ABCD-EFGH"
    assert asked == ["5511987654321"]
    qr = host.of(QrCode)[0]
    assert qr.code == "2@first,code" and session.state == "pairing"
    assert 55 <= (qr.expires_at - before).total_seconds() <= 65  # the first code lives 60 s

    await session._on_qr(session.client, b"2@second")
    second = host.of(QrCode)[1]
    assert 15 <= (second.expires_at - datetime.now(UTC)).total_seconds() <= 25
    assert asked == ["5511987654321"]  # PairPhone only once

    # Already pairing: the code is asked at once.
    assert await session.pair_phone("5511000000001") == "ABCD-EFGH"
    await session.stop(None, 1)


async def test_qr_window_watchdog_stops_the_session(
    pairing: tuple[Session, HostDouble, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    session, host, _ = pairing
    monkeypatch.setattr(session_module, "FIRST_QR_TTL_S", 0.2)
    monkeypatch.setattr(session_module, "NEXT_QR_TTL_S", 0.1)
    monkeypatch.setattr(session_module, "QR_GRACE_S", 0.05)
    await session._on_qr(session.client, b"2@a")
    await asyncio.sleep(0.1)
    await session._on_qr(session.client, b"2@b")  # a new code re-arms the watchdog
    await asyncio.sleep(0.1)
    assert not host.of(QrTimeout)
    await asyncio.sleep(0.3)
    assert len(host.of(QrTimeout)) == 1 and session.state == "stopped"
    await session._on_qr(session.client, b"2@late")  # a stopped session says nothing more
    assert len(host.of(QrCode)) == 2


async def test_pair_phone_refused_when_not_linking(
    pairing: tuple[Session, HostDouble, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    session, _, asked = pairing
    monkeypatch.setattr(session_module, "PAIR_WAIT_S", 0.1)
    with pytest.raises(NotPairingError):
        await session.pair_phone("5511987654321")  # no QR phase ever came
    session.state = "connected"
    with pytest.raises(NotPairingError):
        await session.pair_phone("5511987654321")
    assert not asked


async def test_failed_connects_are_capped(pairing: tuple[Session, HostDouble, list[str]]) -> None:
    session, host, _ = pairing
    for _ in range(3):
        session._connect_failed("tok", "dial failed")
    lost, failed = host.of(ConnectionLost), host.of(ConnectFailed)
    assert [e.reason for e in lost] == ["dial failed", "dial failed"]
    assert len(failed) == 1 and failed[0].permanent  # gives up: disconnected, not a loop
    session._connect_failed("tok", "dial failed")  # a new connect gets its attempts again
    assert len(host.of(ConnectionLost)) == 3


async def test_handler_exceptions_are_logged_not_lost(
    pairing: tuple[Session, HostDouble, list[str]], caplog: pytest.LogCaptureFixture
) -> None:
    session, _, _ = pairing

    async def broken(client: Any, event: Any) -> None:
        raise RuntimeError("mapping bug")

    with caplog.at_level(logging.ERROR, logger="wagate.whatsmeow.session"):
        await session._guard(broken)(session.client, object())
    assert "broken failed" in caplog.text and "mapping bug" in caplog.text


async def test_gate_keeps_connect_and_stop_away_from_other_calls() -> None:
    gate = LifecycleGate()
    log: list[str] = []

    async def call(name: str, hold: float) -> None:
        async with gate.shared():
            log.append(f"{name}+")
            await asyncio.sleep(hold)
            log.append(f"{name}-")

    async def connect() -> None:
        async with gate.exclusive():
            log.append("connect+")
            await asyncio.sleep(0.05)
            log.append("connect-")

    first = asyncio.create_task(call("a", 0.1))
    second = asyncio.create_task(call("b", 0.1))
    await asyncio.sleep(0.01)
    assert log == ["a+", "b+"]  # calls share the gate
    writer = asyncio.create_task(connect())
    await asyncio.sleep(0.01)
    late = asyncio.create_task(call("c", 0))  # arrives while a connect waits: goes after it
    await asyncio.gather(first, second, writer, late)
    assert log.index("connect+") > max(log.index("a-"), log.index("b-"))
    assert log.index("connect-") == log.index("connect+") + 1  # nothing ran inside it
    assert log.index("c+") > log.index("connect-")


async def test_no_more_than_six_codes(pairing: tuple[Session, HostDouble, list[str]]) -> None:
    session, host, _ = pairing
    for number in range(7):
        await session._on_qr(session.client, f"2@code{number}".encode())
    assert len(host.of(QrCode)) == 6
    assert len(host.of(QrTimeout)) == 1 and session.state == "stopped"
