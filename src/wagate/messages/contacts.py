"""Contact cards of a send: the numbers normalised and each card's vCard, kept in the stored
body (the engines send the vCard as it is)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from wagate.errors import ValidationFailed
from wagate.phones import InvalidRecipient, normalize_phone


class Card(Protocol):
    # A protocol, not the request model: the models' module reads this one.
    @property
    def name(self) -> str: ...
    @property
    def phone(self) -> str: ...
    @property
    def organization(self) -> str | None: ...
    @property
    def email(self) -> str | None: ...


def vcard(name: str, phone: str, organization: str | None, email: str | None) -> str:
    def escape(value: str) -> str:
        return (
            value.replace("\\", "\\\\").replace(",", "\\,").replace(";", "\\;").replace("\n", "\\n")
        )

    lines = ["BEGIN:VCARD", "VERSION:3.0", f"FN:{escape(name)}", f"N:;{escape(name)};;;"]
    if organization:
        lines.append(f"ORG:{escape(organization)}")
    lines.append(f"TEL;type=CELL;type=VOICE;waid={phone}:+{phone}")
    if email:
        lines.append(f"EMAIL;type=INTERNET:{escape(email)}")
    lines.append("END:VCARD")
    return "\r\n".join(lines)


def phone_field(value: str, field: str) -> str:
    """A phone number normalised, or a 422 naming the field."""
    try:
        return normalize_phone(value)
    except InvalidRecipient as exc:
        raise ValidationFailed.field(field, str(exc)) from exc


def contact_cards(cards: Sequence[Card]) -> list[dict[str, Any]]:
    kept = []
    for i, card in enumerate(cards):
        phone = phone_field(card.phone, f"contacts.{i}.phone")
        kept.append(
            {
                "name": card.name,
                "phone": phone,
                "vcard": vcard(card.name, phone, card.organization, card.email),
            }
        )
    return kept
