"""The typed application state built by the lifespan: the node's collaborators, handed to the
features and the runtime as the descriptions they declare (wagate.node), never imported."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from wagate.config import Settings
from wagate.db import Database
from wagate.events.bus import EventBus
from wagate.instances.cache import InstanceCache
from wagate.media_store import MediaStore
from wagate.messages.recent import RecentSends
from wagate.policy.service import SendPolicies
from wagate.secretbox import SecretBox

if TYPE_CHECKING:
    from wagate.cluster.service import Cluster, HasCluster
    from wagate.engines.manager import ClientManager
    from wagate.node import Node
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
    # Where received media's bytes are kept: the local directory or S3 (wagate.media_store).
    media: MediaStore
    # The send policies of the instances: their counters (database or Redis) and clock.
    send_policy: SendPolicies
    webhooks: DeliveryWorker | None = None
    messaging: Messaging | None = None
    # Instance ownership: this node alone, or one node of a cluster (wagate.cluster).
    cluster: Cluster | None = None
    # Token -> instance and instance lookups of the request path (wagate.instances.cache).
    instances: InstanceCache = field(default_factory=lambda: InstanceCache(2.0))
    # The sends recorded lately, for their receipts (wagate.messages.recent).
    recent_sends: RecentSends = field(default_factory=RecentSends)


if TYPE_CHECKING:

    def _described(state: AppState) -> tuple[Node, HasCluster]:
        # The one check that the app's state is what every module takes: each module's
        # description is composed of these pieces (tests/unit/test_node.py).
        return state, state
