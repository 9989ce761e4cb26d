"""Phone numbers and JIDs as the API accepts them."""

from __future__ import annotations

import pytest

from wagate.phones import InvalidRecipient, normalize_phone, to_jid


@pytest.mark.parametrize(
    ("raw", "digits"),
    [
        ("+5511987654321", "5511987654321"),
        ("5511987654321", "5511987654321"),
        ("+55 11 98765-4321", "5511987654321"),
        ("  +1 (415) 555-2671 ", "14155552671"),
        ("44.20.7946.0958", "442079460958"),
    ],
)
def test_normalize_phone(raw: str, digits: str) -> None:
    assert normalize_phone(raw) == digits


@pytest.mark.parametrize(
    "raw", ["", "+", "abc", "55119876543a1", "++5511987654321", "12", "1" * 30, "+0 123 456"]
)
def test_bad_phones(raw: str) -> None:
    with pytest.raises(InvalidRecipient):
        normalize_phone(raw)


@pytest.mark.parametrize(
    ("raw", "jid"),
    [
        ("+55 11 98765-4321", "5511987654321@s.whatsapp.net"),
        ("5511987654321@s.whatsapp.net", "5511987654321@s.whatsapp.net"),
        ("5511987654321:12@s.whatsapp.net", "5511987654321@s.whatsapp.net"),
        ("120363025246125486@g.us", "120363025246125486@g.us"),
        ("12345678901234@lid", "12345678901234@lid"),
    ],
)
def test_to_jid(raw: str, jid: str) -> None:
    assert to_jid(raw) == jid


@pytest.mark.parametrize(
    "raw", ["x@example.com", "@g.us", "a b@g.us", "abc@s.whatsapp.net", "nope", "1@"]
)
def test_bad_jids(raw: str) -> None:
    with pytest.raises(InvalidRecipient):
        to_jid(raw)
