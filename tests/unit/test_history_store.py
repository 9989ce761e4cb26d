"""The history store's pure parts: cursors, the words of a search, the chats' new values."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from wagate.engines.base import InboundMessage
from wagate.errors import ValidationFailed
from wagate.history.repository.queries import Cursor, words
from wagate.history.repository.store import chat_updates, inbound_row, summary

T0 = datetime(2026, 11, 1, 12, 0, 0, 123456, tzinfo=UTC)
ALICE = "4915112345678@s.whatsapp.net"
GROUP = "120363000000000000@g.us"


def test_a_cursor_round_trips_and_a_forged_one_is_a_422() -> None:
    cursor = Cursor(T0, 42)
    assert Cursor.decode(cursor.encode(), "before") == cursor
    assert Cursor.decode(None, "before") is None
    for forged in ("", "x", "1.", ".1", "1.2.3", "1.99999999999999999999", "-99999999999999999.1"):
        with pytest.raises(ValidationFailed):
            Cursor.decode(forged, "before")


def test_search_words_are_split_and_folded_as_the_full_text_engines_do() -> None:
    assert words("Hello, WORLD! hello_again café") == ["hello", "world", "again", "café"]
    assert words("!!! ___") == []
    assert len(words(" ".join(f"w{i}" for i in range(40)))) == 16


def row(message_id: str, chat: str, from_me: bool, seconds: int, text: str = "x") -> dict:
    message = InboundMessage(
        message_id, chat, ALICE, from_me, T0 + timedelta(seconds=seconds), "text", text=text
    )
    return inbound_row(1, message)


def test_chat_updates_count_unread_since_the_last_own_message() -> None:
    grow, restart = chat_updates(
        [
            row("A", ALICE, False, 1),
            row("B", ALICE, True, 2),
            row("C", ALICE, False, 3, "last"),
            row("G", GROUP, False, 1),
            row("H", GROUP, False, 2),
        ],
        {(1, ALICE): "Alice"},
    )
    assert [(c["jid"], c["unread"], c["kind"], c["name"]) for c in restart] == [
        (ALICE, 1, "direct", "Alice")
    ]
    assert [(c["jid"], c["unread"], c["kind"], c["name"]) for c in grow] == [
        (GROUP, 2, "group", None)
    ]
    assert restart[0]["last_message"]["text"] == "last"


def test_a_summary_is_short() -> None:
    long = row("A", ALICE, False, 1, "y" * 1000)
    assert len(summary(long)["text"]) == 120
