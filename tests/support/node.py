"""One node's runtime pieces, built by hand without the app: a real SQLite database, event
bus, client manager and simulator engine, the embedded queue and the outcomes waiter. For
tests of the worker's sender and pool on their own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet

from tests.support import rows
from tests.support.polling import eventually
from wagate.config import Settings
from wagate.db import Database
from wagate.engines.manager import ClientManager
from wagate.engines.simulator.engine import SimulatorClient, SimulatorEngine
from wagate.engines.status import Status
from wagate.events.bus import EventBus
from wagate.media_store.build import build_media_store
from wagate.messages import repository
from wagate.messages.outcomes import Outcomes
from wagate.policy.service import build_send_policies
from wagate.queue.local import LocalQueue
from wagate.secretbox import SecretBox
from wagate.state import AppState


@dataclass
class Node:
    state: AppState
    engine: SimulatorEngine
    queue: LocalQueue
    outcomes: Outcomes

    @property
    def db(self) -> Database:
        return self.state.db

    async def linked_instance(
        self, name: str | None = None, settings: dict[str, Any] | None = None
    ) -> tuple[str, int]:
        """A simulator instance of this node, paired by a scan and connected: (name, id)."""
        name = name or f"inst-{uuid.uuid4().hex[:8]}"
        instance_id = await rows.add_instance(self.db, name, settings=settings or {})
        manager = self.state.manager
        await manager.connect(name)

        async def pairing() -> SimulatorClient | None:
            client = manager.live_client(name)
            if isinstance(client, SimulatorClient) and client.pairing:
                return client
            return None

        await (await eventually(pairing, what=f"{name} pairing")).scan(None)
        await self.wait_status(name, Status.CONNECTED)
        return name, instance_id

    async def wait_status(self, name: str, status: Status) -> None:
        async def reached() -> bool:
            return self.state.manager.status_of(name) == status

        await eventually(reached, what=f"{name} {status}")


@asynccontextmanager
async def node(settings: Settings) -> AsyncIterator[Node]:
    db = Database(settings.effective_database_url)
    engine = SimulatorEngine(settings, db)
    bus = EventBus()
    manager = ClientManager(settings, db, bus, {"simulator": engine})
    state = AppState(
        settings=settings,
        db=db,
        bus=bus,
        manager=manager,
        admin_token_hash="unused",
        secrets=SecretBox(Fernet.generate_key(), "a test key"),
        media=build_media_store(settings),
        send_policy=build_send_policies(settings, db, bus),
    )
    await state.media.start()
    await engine.open()
    queue = LocalQueue(db, repository.open_ids)
    await queue.start()
    outcomes = Outcomes(db, settings.sync_poll_interval_s)
    bus.watch(outcomes.on_event)
    try:
        yield Node(state, engine, queue, outcomes)
    finally:
        await manager.close()
        await engine.close()
        await queue.close()
        await state.media.close()
        await db.close()
