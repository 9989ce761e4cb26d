"""JID strings <-> neonize JID protos (engine host side)."""

from __future__ import annotations

from typing import Any

from neonize.utils.jid import Jid2String, JIDToNonAD, build_jid


def parse_jid(value: str) -> Any:
    """ "user@server" or "user:device@server" as a complete JID proto (all required fields)."""
    if "@" not in value:
        return build_jid("".join(ch for ch in value if ch.isdigit()))
    user, server = value.rsplit("@", 1)
    user, _, device = user.partition(":")
    jid = build_jid(user, server)
    jid.Device = int(device or 0)
    return jid


def phone_jid(value: str) -> str:
    """A phone number (or a JID already) as a user JID string."""
    if "@" in value:
        return value
    return "".join(ch for ch in value if ch.isdigit()) + "@s.whatsapp.net"


def jid_string(jid: Any) -> str:
    """The non-device form: "5511...@s.whatsapp.net" (no ":device")."""
    return str(Jid2String(JIDToNonAD(jid)))


def device_string(jid: Any) -> str:
    """The exact device form ("5511...:7@s.whatsapp.net"), as whatsmeow keys its device store."""
    return str(Jid2String(jid))


def is_empty(jid: Any) -> bool:
    return not jid.User and not jid.Server


def is_lid(jid: Any) -> bool:
    return str(jid.Server) == "lid"
