"""The sends this node recorded lately, by their WhatsApp message id: the receipts that follow
a send within seconds are written to its record by primary key, without reading the records
first (wagate.messages.repository.advance_receipts). A receipt for a send not here (sent by
another node, before a restart, or long ago) reads its record as before."""

from __future__ import annotations

from collections.abc import Iterable
from itertools import islice

# (instance, WhatsApp message id) -> (the record's primary key, its correlation id)
SentKey = tuple[int, str]
SentRecord = tuple[int, str]

# Several seconds of sends at a node's full rate, within which most delivered receipts come
# (and the read ones of a chat open on the phone); about 8 MiB when full.
DEFAULT_SIZE = 20_000


class RecentSends:
    """A bounded map of the sends this node's engines made, oldest forgotten first, kept from
    the moment the engine answered (before the write that records them: their receipts may
    come first). A record here is sent: its status moves no further, only its receipts."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.size = size
        self._records: dict[SentKey, SentRecord] = {}

    def add(self, sent: Iterable[tuple[int, str, int, str]]) -> None:
        """(instance, message id, primary key, correlation id) of records just sent."""
        records = self._records
        for instance_id, message_id, pk, correlation_id in sent:
            records[(instance_id, message_id)] = (pk, correlation_id)
        excess = len(records) - self.size
        if excess > 0:
            for key in list(islice(records, excess)):
                del records[key]

    def get(self, key: SentKey) -> SentRecord | None:
        return self._records.get(key)

    def __len__(self) -> int:
        return len(self._records)
