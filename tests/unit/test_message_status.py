"""The message statuses: their values (stored and sent as JSON), the open/final split and the
order receipts follow."""

from __future__ import annotations

import json

from wagate.message_status import FINAL, OPEN, RANK, MessageStatus


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


def test_the_rank_orders_the_way_to_a_read_receipt() -> None:
    way = [
        MessageStatus.QUEUED,
        MessageStatus.SENDING,
        MessageStatus.SENT,
        MessageStatus.DELIVERED,
        MessageStatus.READ,
    ]
    # Total over every status a message passes on its way to read, strictly increasing.
    assert list(RANK) == way
    assert [RANK[s] for s in way] == sorted(set(RANK.values()))
    # Every open status ranks below every receipt status: a receipt always moves it on.
    receipts = {MessageStatus.DELIVERED, MessageStatus.READ}
    assert max(RANK[s] for s in OPEN) < min(RANK[s] for s in receipts)
    # A failed send has no rank: a receipt proves it arrived after all, and replaces it.
    assert MessageStatus.FAILED not in RANK
