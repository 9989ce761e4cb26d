"""The simulated network's rules about numbers and ids (API.md, "The simulator engine")."""

from __future__ import annotations

import secrets
import string


def on_whatsapp(user: str) -> bool:
    """A number is on WhatsApp unless its digits end in 0000."""
    digits = "".join(ch for ch in user if ch.isdigit())
    return not digits.endswith("0000")


def refuses_adding(user: str) -> bool:
    """The simulator's privacy rule: a number ending in 9999 lets no one add it to a group
    (WhatsApp's "who can add me to groups"); an invite is sent instead."""
    digits = "".join(ch for ch in user if ch.isdigit())
    return digits.endswith("9999")


def random_phone() -> str:
    return "55119" + "".join(secrets.choice(string.digits) for _ in range(8))


def new_message_id() -> str:
    return "3EB0" + secrets.token_hex(8).upper()
