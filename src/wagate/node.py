"""What the features and the runtime use of the node, described as types.

Each collaborator of the node is declared once, as a `Has...` protocol of one attribute; a
module describes what it uses by composing those (`class InstancesNode(HasDb, HasBus, ...,
Protocol)`) and names nothing else, so it takes no more than it needs and imports nothing
above its layer. The app's state (wagate.state) is the one object that satisfies them all:
mypy checks it there, against `Node` here and the runtime's own pieces (`HasCluster`).

The attributes are read-only properties: a module reads the node's collaborators, only the
app builds or replaces them, and a read-only attribute may be described by a narrower type
(`MessagingView` for the app's messaging).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from starlette.requests import Request

# Annotations only, never evaluated: no import at run time, so no cycle through a module that
# describes its own use of the node with the pieces here (the messages service does).
if TYPE_CHECKING:
    from wagate.config import Settings
    from wagate.db import Database
    from wagate.engines.manager import ClientManager
    from wagate.events.bus import EventBus
    from wagate.instances.cache import InstanceCache
    from wagate.media_store import MediaStore
    from wagate.messages.recent import RecentSends
    from wagate.messages.service import MessageService
    from wagate.policy.service import SendPolicies
    from wagate.queue.base import Queue
    from wagate.secretbox import SecretBox
    from wagate.webhooks.delivery import DeliveryWorker


class HasSettings(Protocol):
    @property
    def settings(self) -> Settings: ...


class HasDb(Protocol):
    @property
    def db(self) -> Database: ...


class HasBus(Protocol):
    @property
    def bus(self) -> EventBus: ...


class HasManager(Protocol):
    @property
    def manager(self) -> ClientManager: ...


class HasInstances(Protocol):
    """Token -> instance and instance lookups of the request path (wagate.instances.cache)."""

    @property
    def instances(self) -> InstanceCache: ...


class HasMediaStore(Protocol):
    """Where received media's bytes are kept (wagate.media_store)."""

    @property
    def media(self) -> MediaStore: ...


class HasSecrets(Protocol):
    """Encrypts the credentials stored in the database (webhook secrets)."""

    @property
    def secrets(self) -> SecretBox: ...


class HasAdminToken(Protocol):
    """The hash of the admin token, which follows a rotation while the node runs."""

    @property
    def admin_token_hash(self) -> str: ...


class HasWebhooks(Protocol):
    """The delivery worker, to wake when a delivery is written (None before it starts)."""

    @property
    def webhooks(self) -> DeliveryWorker | None: ...


class HasSendPolicy(Protocol):
    """The instances' send policies, their counters and the clock they read
    (wagate.policy.service)."""

    @property
    def send_policy(self) -> SendPolicies: ...


class HasRecentSends(Protocol):
    """The sends this node recorded lately, whose receipts need no read of their records
    (wagate.messages.recent)."""

    @property
    def recent_sends(self) -> RecentSends: ...


class MessagingView(Protocol):
    """What the features use of the node's messaging (wagate.worker.runtime): its send
    service, and its queue for the readiness probe."""

    @property
    def service(self) -> MessageService: ...

    @property
    def queue(self) -> Queue: ...


class HasMessaging(Protocol):
    """The messaging of the node; None before it starts."""

    @property
    def messaging(self) -> MessagingView | None: ...


class Node(
    HasSettings,
    HasDb,
    HasBus,
    HasManager,
    HasInstances,
    HasSecrets,
    HasMediaStore,
    HasAdminToken,
    HasWebhooks,
    HasMessaging,
    HasSendPolicy,
    HasRecentSends,
    Protocol,
):
    """Every piece above: what the app's state must be (tests/unit check that none is left
    out)."""


async def get_node(request: Request) -> Any:
    """The node, as a route dependency: `Annotated[XNode, Depends(get_node)]` with the
    module's own description. The app put its state there (wagate.state checks that it is
    every description); async, because FastAPI runs a plain-def dependency in its thread pool,
    a thread hop on every request for one attribute lookup."""
    return request.app.state.wagate
