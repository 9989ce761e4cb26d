"""The status of an outbound message, its open and final sets and its order: declared once.

A core module, so that the queue, the worker and the message features all read the same
declaration without importing upwards. A `StrEnum`: the values are the strings stored in the
database and sent in JSON, which therefore do not change.
"""

from __future__ import annotations

import enum


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

# A receipt never moves a message backwards (read, then a late delivered). FAILED and CANCELLED
# have no rank: a cancelled message was never sent, so no receipt can name it. FAILED has no
# rank on purpose: a receipt for a send recorded as failed proves it did reach WhatsApp, so
# the receipt's status replaces it.
RANK = {
    MessageStatus.QUEUED: 0,
    MessageStatus.SENDING: 1,
    MessageStatus.SENT: 2,
    MessageStatus.DELIVERED: 3,
    MessageStatus.READ: 4,
}
