"""Pure parts of messaging: validation, vCards, the retry decision, the SSRF address check."""

from __future__ import annotations

import pytest

from wagate.errors import ValidationFailed
from wagate.messages.media import decode_base64, sniff
from wagate.messages.prepare import check, vcard
from wagate.netguard import is_public
from wagate.queue.retry import decide


def test_vcard_escapes_and_carries_waid() -> None:
    card = vcard("Doe; John", "5511912345678", "ACME, Inc", "j@d.com")
    assert "FN:Doe\\; John" in card
    assert "ORG:ACME\\, Inc" in card
    assert "TEL;type=CELL;type=VOICE;waid=5511912345678:+5511912345678" in card
    assert card.startswith("BEGIN:VCARD\r\nVERSION:3.0") and card.endswith("END:VCARD")


def test_check_normalises_recipient_and_hash_depends_on_body() -> None:
    a = check("text", {"to": "+55 (11) 98765-4321", "text": "x"})
    b = check("text", {"to": "5511987654321", "text": "y"})
    assert a.to_jid == b.to_jid == "5511987654321@s.whatsapp.net"
    assert a.to == "5511987654321"
    assert a.request_hash != b.request_hash
    assert check("text", {"to": "5511987654321", "text": "x"}).request_hash == a.request_hash
    group = check("text", {"to": "123-456@g.us", "text": "x"})
    assert group.to == group.to_jid == "123-456@g.us"


@pytest.mark.parametrize(
    ("kind", "body", "field"),
    [
        ("text", {"to": "5511987654321", "text": "a" * 65537}, "text"),
        ("poll", {"to": "5511987654321", "question": "q", "options": ["a", "a"]}, "options"),
        ("poll", {"to": "5511987654321", "question": "q", "options": ["a", " "]}, "options"),
        ("location", {"to": "5511987654321", "latitude": 0, "longitude": 181}, "longitude"),
        ("image", {"to": "5511987654321", "media": {"url": "http://x", "base64": "AA=="}}, "media"),
    ],
)
def test_check_names_the_field(kind: str, body: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        check(kind, body)
    assert caught.value.details["fields"][0]["field"] == field


def test_retry_decision() -> None:
    assert decide(1, 3, True, 1.0, 60.0, 0.5).retry is False
    assert decide(3, 3, False, 1.0, 60.0, 0.5).retry is False
    first = decide(1, 5, False, 1.0, 60.0, 0.0)
    assert first.retry and first.delay_s == 0.5
    assert decide(2, 5, False, 1.0, 60.0, 0.999).delay_s == pytest.approx(2.0, abs=0.01)
    assert decide(20, 50, False, 1.0, 60.0, 1.0).delay_s <= 60.0


def test_address_classes() -> None:
    for private in (
        "127.0.0.1",
        "10.0.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "::1",
        "fe80::1",
        "100.64.0.1",
        "0.0.0.0",
        "::ffff:127.0.0.1",
        "fd00::1",
        "224.0.0.1",
    ):
        assert not is_public(private), private
    for public in ("8.8.8.8", "2606:4700::1111"):
        assert is_public(public)


def test_base64_and_sniff() -> None:
    assert decode_base64("data:image/png;base64,aGk=", 10) == b"hi"
    with pytest.raises(ValidationFailed):
        decode_base64("a", 10)
    assert sniff(b"%PDF-1.4 ...") == "application/pdf"
    assert sniff(b"hello") is None
