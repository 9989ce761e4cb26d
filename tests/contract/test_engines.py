"""The engine contract (tests/contract/engine_contract.py) on each engine, and what only one
engine shows: the simulator's faults and its side of the network, the whatsmeow engine's
hosts."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import cast

import pytest

from tests.conftest import make_settings
from tests.contract.engine_contract import (
    ACTIONS,
    CHAT,
    PHONE,
    SAMPLES,
    ConnectedEngineContract,
    EngineContract,
    Recorded,
    not_connected,
    text_to,
)
from tests.support import rows
from wagate.config import Settings
from wagate.db import Database
from wagate.engines.actions import ACTIONS as DECLARED
from wagate.engines.actions import EDIT_MESSAGE, SEND, VOTE, EditRequest, VoteRequest
from wagate.engines.base import (
    Connected,
    ConnectionLost,
    EngineEvent,
    InstanceRef,
    LoggedOut,
    NotPairingError,
    OutgoingMessage,
    PermanentEngineError,
    QrCode,
    QrTimeout,
    Receipt,
    TransientEngineError,
)
from wagate.engines.simulator.engine import SimulatorClient, SimulatorEngine
from wagate.engines.whatsmeow.engine import WhatsmeowEngine

# --- the simulator ---------------------------------------------------------------------------


class SimulatorHarness:
    """The simulator on a real SQLite database (its devices and outbox are rows)."""

    absent_phone = "5511900000000"  # the simulator's rule: digits ending in 0000

    def __init__(self, settings: Settings, db: Database) -> None:
        self.db = db
        self.engine = SimulatorEngine(settings, db)
        self.made: list[Recorded] = []

    async def client(self, instance: InstanceRef | None = None) -> Recorded:
        if instance is None:
            name = f"sim-{uuid.uuid4().hex[:8]}"
            instance = InstanceRef(await rows.add_instance(self.db, name), name)
        events: list[EngineEvent] = []
        recorded = Recorded(instance, self.engine.create_client(instance, events.append), events)
        self.made.append(recorded)
        return recorded

    async def link(self, recorded: Recorded) -> None:
        await simulated(recorded).scan(None)

    async def close(self) -> None:
        for recorded in self.made:
            await recorded.client.stop()
        await self.engine.close()
        await self.db.close()


def simulated(recorded: Recorded) -> SimulatorClient:
    return cast(SimulatorClient, recorded.client)


@pytest.fixture
async def simulator(sqlite_url: str, tmp_path: Path) -> AsyncIterator[SimulatorHarness]:
    made = SimulatorHarness(make_settings(sqlite_url, tmp_path / "data"), Database(sqlite_url))
    await made.engine.open()
    try:
        yield made
    finally:
        await made.close()


class TestSimulatorEngine(ConnectedEngineContract):
    @pytest.fixture
    def harness(self, simulator: SimulatorHarness) -> SimulatorHarness:
        return simulator

    async def test_receipts_follow_a_send(self, linked: Recorded) -> None:
        sent = await linked.client.call(SEND, text_to(CHAT))
        receipt = await linked.first(Receipt)
        assert receipt.message_ids == (sent.message_id,) and receipt.chat == CHAT

        async def both() -> bool:
            return [r.status for r in linked.of(Receipt)] == ["delivered", "read"]

        await asyncio.wait_for(_until(both), 10)

    async def test_a_poll_vote_and_a_message_it_does_not_know(self, linked: Recorded) -> None:
        poll = OutgoingMessage(
            "poll", CHAT, {"question": "Lunch?", "options": ["pizza", "sushi"]}, "c-poll"
        )
        sent = await linked.client.call(SEND, poll)
        voted = await linked.client.call(VOTE, VoteRequest(CHAT, sent.message_id, ["sushi"]))
        assert voted.message_id
        with pytest.raises(PermanentEngineError) as raised:
            await linked.client.call(VOTE, VoteRequest(CHAT, sent.message_id, ["tacos"]))
        assert raised.value.code == "poll_option_unknown"
        with pytest.raises(PermanentEngineError) as raised:
            await linked.client.call(EDIT_MESSAGE, EditRequest(CHAT, "3EB0NOPE", "x"))
        assert raised.value.code == "message_not_found"

    async def test_a_dropped_connection_is_reported(self, linked: Recorded) -> None:
        simulated(linked).drop_connection()
        assert (await linked.first(ConnectionLost)).reason
        await not_connected(ACTIONS["send"], linked.client)

    async def test_an_unlink_from_the_phone_logs_out(
        self, harness: SimulatorHarness, linked: Recorded
    ) -> None:
        await simulated(linked).unlink_from_phone()
        await linked.first(LoggedOut)
        await linked.client.stop()
        again = await harness.client(linked.instance)
        await again.client.start()
        await again.first(QrCode)

    @pytest.mark.parametrize(
        ("kind", "error"),
        [("permanent", PermanentEngineError), ("transient", TransientEngineError)],
    )
    async def test_a_failed_send_says_whether_to_try_again(
        self, harness: SimulatorHarness, linked: Recorded, kind: str, error: type[Exception]
    ) -> None:
        faults = harness.engine.faults_of(linked.instance.id)
        faults.fail_next, faults.fail_kind = 1, kind
        with pytest.raises(error) as raised:
            await linked.client.call(SEND, text_to(CHAT))
        assert getattr(raised.value, "code", "") == "engine_error"
        assert (
            await linked.client.call(SEND, text_to(CHAT))
        ).message_id  # only the next one failed

    async def test_a_pair_code_links_the_phone(self, harness: SimulatorHarness) -> None:
        recorded = await harness.client()
        await recorded.client.start()
        code = await recorded.client.pair_phone(PHONE)
        assert len(code) == 9 and code[4] == "-"
        connected = await recorded.first(Connected)
        assert connected.phone == PHONE

    async def test_pair_phone_when_not_pairing_is_refused(self, linked: Recorded) -> None:
        with pytest.raises(NotPairingError):
            await linked.client.pair_phone(PHONE)

    async def test_no_scan_ends_in_a_qr_timeout(
        self, sqlite_url: str, tmp_path: Path, harness: SimulatorHarness
    ) -> None:
        harness.engine.settings = make_settings(
            sqlite_url, tmp_path / "data", simulator_qr_count=2, simulator_qr_interval_s=0.1
        )
        recorded = await harness.client()
        await recorded.client.start()
        await recorded.first(QrTimeout)
        assert len(recorded.of(QrCode)) == 2


async def _until(check: Callable[[], Awaitable[bool]]) -> None:
    while not await check():
        await asyncio.sleep(0.02)


# --- whatsmeow -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def refused() -> Iterator[int]:
    """A loopback port that refuses connections (bound, never listening): as the proxy, it
    makes every dial to WhatsApp fail at once without leaving the machine."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


class WhatsmeowHarness:
    """Clients on real engine hosts, offline: each dial fails, nothing is linked."""

    def __init__(self, settings: Settings) -> None:
        # No shared store (SQLite settings): the engine never uses the database.
        self.engine = WhatsmeowEngine(settings, db=None)  # type: ignore[arg-type]
        self.made: list[Recorded] = []
        self._ids = itertools.count(1)

    async def client(self, instance: InstanceRef | None = None) -> Recorded:
        if instance is None:
            number = next(self._ids)
            instance = InstanceRef(number, f"wm-{number}")
        events: list[EngineEvent] = []
        recorded = Recorded(instance, self.engine.create_client(instance, events.append), events)
        self.made.append(recorded)
        return recorded

    async def close(self) -> None:
        for recorded in self.made:
            await recorded.client.stop()
        await self.engine.close()


def whatsmeow_settings(tmp_path: Path, proxy_port: int) -> Settings:
    return make_settings(
        f"sqlite+aiosqlite:///{tmp_path}/unused.db",
        tmp_path,
        whatsmeow_proxy=f"socks5://127.0.0.1:{proxy_port}",
        whatsmeow_connect_attempts=1000,  # each failed dial is a ConnectionLost
        whatsmeow_host_restart_max_delay_s=0.5,
        whatsmeow_stop_wait_s=0.5,
    )


@pytest.fixture(scope="class")
async def whatsmeow(
    tmp_path_factory: pytest.TempPathFactory, refused: int
) -> AsyncIterator[WhatsmeowHarness]:
    """One engine (one host process) for the class: starting a host is the slow part."""
    made = WhatsmeowHarness(whatsmeow_settings(tmp_path_factory.mktemp("whatsmeow"), refused))
    await made.engine.open()
    try:
        yield made
    finally:
        await made.close()


@pytest.mark.e2e  # real engine host processes, as the other whatsmeow host tests
class TestWhatsmeowEngine(EngineContract):
    @pytest.fixture
    def harness(self, whatsmeow: WhatsmeowHarness) -> WhatsmeowHarness:
        return whatsmeow

    async def test_a_failed_dial_says_why(self, harness: WhatsmeowHarness) -> None:
        recorded = await harness.client()
        await recorded.client.start()
        lost = await recorded.first(ConnectionLost, 30)
        assert "dial" in lost.reason and "connection refused" in lost.reason


@pytest.fixture
async def own_whatsmeow(tmp_path: Path, refused: int) -> AsyncIterator[WhatsmeowHarness]:
    made = WhatsmeowHarness(whatsmeow_settings(tmp_path, refused))
    await made.engine.open()
    try:
        yield made
    finally:
        await made.close()


async def killed_host(harness: WhatsmeowHarness) -> Recorded:
    """A client whose engine host was just killed, once it reported that."""
    recorded = await harness.client()
    await recorded.client.start()
    await recorded.first(ConnectionLost, 30)  # the host runs the client (its dial failed)
    host = harness.engine.pool.host_of(recorded.instance.id)
    assert host is not None and host.pid is not None
    seen = len(recorded.events)
    os.kill(host.pid, signal.SIGKILL)

    async def died() -> bool:
        return any(
            isinstance(e, ConnectionLost) and "engine host died" in e.reason
            for e in recorded.events[seen:]
        )

    await asyncio.wait_for(_until(died), 10)
    return recorded


@pytest.mark.e2e
async def test_whatsmeow_host_death_is_a_lost_connection(
    own_whatsmeow: WhatsmeowHarness,
) -> None:
    recorded = await killed_host(own_whatsmeow)
    with pytest.raises(TransientEngineError):  # worth trying again, never a hang
        await asyncio.wait_for(ACTIONS["check_numbers"](recorded.client), 5)


@pytest.mark.e2e
async def test_whatsmeow_actions_after_host_death_raise_not_connected(
    own_whatsmeow: WhatsmeowHarness,
) -> None:
    recorded = await killed_host(own_whatsmeow)
    await not_connected(ACTIONS["check_numbers"], recorded.client)


def test_every_declared_action_has_a_sample() -> None:
    assert sorted(DECLARED) == sorted(SAMPLES)
