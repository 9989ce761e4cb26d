"""Phone numbers and JIDs as the API accepts them."""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

JID_SERVERS = ("s.whatsapp.net", "g.us", "lid", "newsletter", "broadcast")
_SEPARATORS = re.compile(r"[\s\-().]")


class InvalidRecipient(ValueError):
    pass


def normalize_phone(raw: str) -> str:
    """International number -> its digits (E.164 without '+'); spaces and dashes ignored."""
    text = _SEPARATORS.sub("", raw.strip())
    if text.startswith("+"):
        text = text[1:]
    if not text.isdigit():
        raise InvalidRecipient("a phone number has digits only, in international form")
    return _e164_digits(text)


# Parsing with the numbering plan costs more than the rest of an async send's validation;
# a gateway sends to the same numbers over and over. Only valid numbers are kept (an
# exception is never cached), a few MiB at most.
@lru_cache(maxsize=16384)
def _e164_digits(text: str) -> str:
    try:
        parsed = phonenumbers.parse("+" + text, None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidRecipient(f"not a phone number: {exc}") from exc
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidRecipient("not a possible international phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)[1:]


def to_jid(raw: str) -> str:
    """A phone number or a JID -> a JID (user@server)."""
    value = raw.strip()
    if "@" in value:
        user, _, server = value.partition("@")
        if server not in JID_SERVERS or not user or not re.fullmatch(r"[0-9A-Za-z.:_\-]+", user):
            raise InvalidRecipient("not a valid JID")
        if server == "s.whatsapp.net":
            digits = user.split(":")[0].split(".")[0]
            return f"{normalize_phone(digits)}@s.whatsapp.net"
        return f"{user}@{server}"
    return f"{normalize_phone(value)}@s.whatsapp.net"


def phone_of(jid: str) -> str | None:
    """The phone number (digits) of a user's JID; None for a LID or any other server, where
    WhatsApp does not show the number."""
    user, _, server = jid.partition("@")
    if server != "s.whatsapp.net":
        return None
    return user.split(":")[0].split(".")[0] or None


def is_group_jid(jid: str) -> bool:
    return jid.endswith("@g.us")
