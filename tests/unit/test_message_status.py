"""The message statuses: their values (stored and sent as JSON), the open/final split and
the status shown with a sent message's receipts."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from wagate.message_status import FINAL, OPEN, MessageStatus, shown


def test_the_values_are_the_stored_and_sent_strings() -> None:
    assert [s.value for s in MessageStatus] == [
        "queued",
        "sending",
        "sent",
        "delivered",
        "read",
        "failed",
        "cancelled",
    ]
    # A StrEnum: equal to, hashed like and serialised as its string, so rows and JSON bodies
    # written before and after compare alike.
    assert json.dumps({"status": MessageStatus.SENT}) == '{"status": "sent"}'
    assert "queued" in OPEN and "failed" in FINAL
    assert MessageStatus("read") is MessageStatus.READ


def test_every_status_is_open_or_final_never_both() -> None:
    assert frozenset(MessageStatus) == OPEN | FINAL
    assert not OPEN & FINAL
    assert {MessageStatus.QUEUED, MessageStatus.SENDING} == OPEN


def test_the_shown_status_reads_a_sent_messages_receipts() -> None:
    at = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    assert shown(MessageStatus.SENT, None, None) == "sent"
    assert shown(MessageStatus.SENT, at, None) == "delivered"
    assert shown(MessageStatus.SENT, at, at) == "read"
    assert shown(MessageStatus.SENT, None, at) == "read"  # a read that came alone
    # Only a sent message shows its receipts (a receipt makes a message it names sent).
    for status in OPEN | {MessageStatus.FAILED, MessageStatus.CANCELLED}:
        assert shown(status, at, at) == status
