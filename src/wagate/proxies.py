"""An instance's proxy: the URL it is given, checked, and the part of it that may be shown.

The URL may carry a user name and password. It is stored encrypted (wagate/secretbox.py) and
never shown whole: responses carry `ProxyView` (scheme, host, port, whether credentials are
set), and error messages here never repeat the URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

SCHEMES = ("http", "https", "socks5")
DEFAULT_PORTS = {"http": 80, "https": 443, "socks5": 1080}
MAX_LENGTH = 2048


class BadProxy(ValueError):
    """The proxy URL is malformed; the message says why without repeating it."""


@dataclass(frozen=True, slots=True)
class ProxyView:
    """What may be shown of a proxy: never its credentials."""

    scheme: str
    host: str
    port: int
    credentials_set: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "scheme": self.scheme,
            "host": self.host,
            "port": self.port,
            "credentials_set": self.credentials_set,
        }


def parse(url: str) -> ProxyView:
    """Check a proxy URL: `scheme://[user[:password]@]host[:port]`, nothing after the port.
    Raises BadProxy."""
    if len(url) > MAX_LENGTH:
        raise BadProxy(f"the proxy URL is longer than {MAX_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 0x20 for ch in url):
        raise BadProxy("the proxy URL has white space or control characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError:
        # Not chained: the parser's message may quote the URL, password included.
        raise BadProxy("the proxy URL has a bad host or port") from None
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise BadProxy(f"the proxy scheme must be one of {', '.join(SCHEMES)}")
    if not host:
        raise BadProxy("the proxy URL has no host")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise BadProxy("the proxy URL takes no path, query or fragment")
    if port == 0:
        raise BadProxy("the proxy port must be between 1 and 65535")
    if parts.password is not None and not parts.username:
        raise BadProxy("the proxy URL has a password but no user name")
    return ProxyView(scheme, host, port or DEFAULT_PORTS[scheme], parts.username is not None)


def view_of(stored: Any) -> ProxyView | None:
    """The view kept beside the encrypted URL in an instance's settings (None: no proxy)."""
    if not isinstance(stored, dict) or not stored.get("url"):
        return None
    return ProxyView(
        str(stored["scheme"]),
        str(stored["host"]),
        int(stored["port"]),
        bool(stored.get("credentials_set")),
    )


def stored(url: str, encrypt: Any) -> dict[str, Any]:
    """The settings entry of a proxy: its view in the clear, the whole URL encrypted."""
    return {**parse(url).as_dict(), "url": encrypt(url)}


def encrypted_url(settings: dict[str, Any] | None) -> str | None:
    """The encrypted URL of an instance's proxy, from its settings (None: no proxy)."""
    entry = (settings or {}).get("proxy")
    if isinstance(entry, dict) and entry.get("url"):
        return str(entry["url"])
    return None
