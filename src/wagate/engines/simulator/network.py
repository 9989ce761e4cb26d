"""Rules of the simulated network that several of its parts apply."""

from __future__ import annotations


def on_whatsapp(user: str) -> bool:
    """API.md: a number is on WhatsApp unless its digits end in 0000."""
    digits = "".join(ch for ch in user if ch.isdigit())
    return not digits.endswith("0000")
