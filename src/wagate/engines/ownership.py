"""The ownership gate the client manager consults: may this node run, and write, an instance?

- `LocalOwnership` (one node, no Redis): the process owns every instance.
- `LeaseOwnership` (cluster, wagate/cluster/ownership.py): the node runs an instance only
  while it holds the instance's lease, and every status write carries the lease's fencing
  token. The cluster hands it to the manager at start; the manager never imports the cluster.
"""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from wagate.repository.instances import same_columns, update_fields, update_many


class Ownership(Protocol):
    async def claim(self, instance_id: int, name: str) -> None:
        """Make sure this node holds the instance before acting on it, or raise NotHeld."""

    def may_run(self, instance_id: int) -> bool:
        """Whether a client of the instance may be started (or kept running) here now."""

    async def write(self, session: AsyncSession, instance_id: int, fields: dict[str, Any]) -> bool:
        """Write instance fields under this node's fencing token; False when refused."""

    async def write_many(
        self, session: AsyncSession, writes: list[tuple[int, dict[str, Any]]]
    ) -> list[bool]:
        """`write` for each (instance id, fields), in this order."""

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

    async def write_many(
        self, session: AsyncSession, writes: list[tuple[int, dict[str, Any]]]
    ) -> list[bool]:
        # One statement per run of writes of the same columns (an executemany), in order: a
        # group commit of thousands of status writes held SQLite's write lock for a round trip
        # per row, and the other writers' busy timeout ran out.
        for run in same_columns(writes):
            await update_many(session, run)
        return [True] * len(writes)

    def fencing_token(self, name: str) -> int | None:
        return 0

    async def still_holds(self, name: str, token: int) -> bool:
        return True
