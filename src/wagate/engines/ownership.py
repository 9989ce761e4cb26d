"""The ownership gate the client manager consults: may this node run, and write, an instance?

- `LocalOwnership` (one node, no Redis): the process owns every instance.
- `LeaseOwnership` (cluster, wagate/cluster/ownership.py): the node runs an instance only
  while it holds the instance's lease, and every status write carries the lease's fencing
  token. The cluster hands it to the manager at start; the manager never imports the cluster.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from wagate.repository.instances import update_fields


class Ownership(Protocol):
    async def claim(self, instance_id: int, name: str) -> None:
        """Make sure this node holds the instance before acting on it, or raise NotHeld."""

    def may_run(self, instance_id: int) -> bool:
        """Whether a client of the instance may be started (or kept running) here now."""

    async def write(self, session: AsyncSession, instance_id: int, fields: dict[str, Any]) -> bool:
        """Write instance fields under this node's fencing token; False when refused."""

    def fencing_token(self, name: str) -> int | None:
        """The token under which this node holds the instance now; None when it does not."""

    async def still_holds(self, name: str, token: int) -> bool:
        """Whether the lease taken with `token` is still this node's (asks Redis)."""


class LocalOwnership:
    """A single node owns everything: nothing is checked."""

    async def claim(self, instance_id: int, name: str) -> None:
        return None

    def may_run(self, instance_id: int) -> bool:
        return True

    async def write(self, session: AsyncSession, instance_id: int, fields: dict[str, Any]) -> bool:
        await update_fields(session, instance_id, **fields)
        return True

    def fencing_token(self, name: str) -> int | None:
        return 0

    async def still_holds(self, name: str, token: int) -> bool:
        return True
