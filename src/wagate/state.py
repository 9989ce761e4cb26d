"""The typed application state built by the lifespan and handed to routes as a dependency."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, Request

from wagate.config import Settings
from wagate.db import Database
from wagate.events.bus import EventBus
from wagate.instances.cache import InstanceCache
from wagate.secretbox import SecretBox

if TYPE_CHECKING:
    from wagate.cluster.service import Cluster
    from wagate.engines.manager import ClientManager
    from wagate.webhooks.delivery import DeliveryWorker
    from wagate.worker.runtime import Messaging


@dataclass
class AppState:
    settings: Settings
    db: Database
    bus: EventBus
    manager: ClientManager
    admin_token_hash: str
    # Encrypts credentials stored in the database (webhook secrets): wagate.secretbox.
    secrets: SecretBox
    webhooks: DeliveryWorker | None = None
    # Later features hang their services here (queue, workers, webhook delivery, cluster).
    services: dict[str, Any] = field(default_factory=dict)
    messaging: Messaging | None = None
    # Instance ownership: this node alone, or one node of a cluster (wagate.cluster).
    cluster: Cluster | None = None
    # Token -> instance and instance lookups of the request path (wagate.instances.cache).
    instances: InstanceCache = field(default_factory=lambda: InstanceCache(2.0))


async def get_state(request: Request) -> AppState:
    # async on purpose: FastAPI runs a plain-def dependency in its thread pool, a thread hop
    # (and two event-loop wake-ups) on every request for one attribute lookup.
    state: AppState = request.app.state.wagate
    return state


State = Annotated[AppState, Depends(get_state)]
