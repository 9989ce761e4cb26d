"""The status of an outbound message, its open and final sets and the status the API shows
(with its receipts): declared once.

A core module, so that the queue, the worker and the message features all read the same
declaration without importing upwards. A `StrEnum`: the values are the strings stored in the
database and sent in JSON, which therefore do not change.
"""

from __future__ import annotations

import enum
from datetime import datetime


class MessageStatus(enum.StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    # Revoked while still queued: never sent (exactly one message_ack says so).
    CANCELLED = "cancelled"


# Still the worker's: the reconciler re-enqueues these, retention never deletes them.
OPEN = frozenset({MessageStatus.QUEUED, MessageStatus.SENDING})
# Done: a sync caller answers, a worker that finds one acks and skips it.
FINAL = frozenset(MessageStatus) - OPEN

# The stored status is the send's own life: queued, sending, then sent, failed or cancelled.
# A receipt keeps its time (`delivered_at`, `read_at`) and leaves the status column alone: the
# column is indexed, and an update that changes no indexed column is made in place on
# PostgreSQL (HOT: no new index entries), which is what two receipts per message need.
# `shown` gives the status the API shows, with the receipts.


def shown(status: str, delivered_at: datetime | None, read_at: datetime | None) -> str:
    """The status the API shows: a sent message's receipts, read over delivered."""
    if status == MessageStatus.SENT:
        if read_at is not None:
            return MessageStatus.READ
        if delivered_at is not None:
            return MessageStatus.DELIVERED
    return status
