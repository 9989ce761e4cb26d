"""The queue interface: per-instance ordered streams of message ids (the signal; the rows in
the messages table are the record)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Entry:
    """One queued message id; `token` is the backend's handle for acknowledging it."""

    instance: str
    pk: int
    token: str


class Queue(Protocol):
    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def enqueue(self, instance: str, pks: Sequence[int]) -> None:
        """Append message ids to the instance's stream, in order."""

    async def enqueue_many(self, batches: Mapping[str, Sequence[int]]) -> None:
        """`enqueue` for several instances at once (one round trip where the backend can)."""

    async def adopt(self, instance: str) -> None:
        """This node now holds the instance (start, reconnect, takeover): the next take
        begins with every entry left unacknowledged by whoever held it before."""

    async def take(self, instance: str, count: int, timeout_s: float) -> list[Entry]:
        """The next entries of the instance for this consumer (entries of dead consumers
        first); waits up to `timeout_s` when there are none."""

    def interrupt(self, instance: str) -> None:
        """End the instance's `take` now, or its next one: it returns nothing (its sender
        stops, or must look whether its instance is still here)."""

    async def ack(self, instance: str, entries: Sequence[Entry]) -> None:
        """Done with these entries: their outcome is recorded."""

    async def dead_letter(self, instance: str, pk: int, error: str) -> None:
        """Note a failed message in the backend's dead-letter stream."""

    async def contained(self, instance: str) -> set[int]:
        """Every message id the instance's stream still holds (queued or in flight)."""

    async def depth(self) -> int: ...

    async def health(self) -> str:
        """ "ok" or an error text (readyz)."""
