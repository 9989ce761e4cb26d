"""The address guard for URLs the gateway fetches on a caller's behalf (media downloads,
webhook posts): which addresses are public, resolving a host to addresses that passed the
check, and the target to connect to so that no second DNS answer can swap the address.

A caller-supplied URL must not let the gateway reach what only the gateway can reach:
loopback, private networks, link-local (cloud metadata at 169.254.169.254 and
fd00:ec2::254), multicast and reserved ranges, also when written as an IPv6 address that
carries an IPv4 address (mapped, compatible, NAT64, 6to4, Teredo).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

NOT_ALLOWED = "the URL resolves to a loopback, private, link-local or metadata address"

# Translation prefixes whose last 32 bits are an IPv4 address the packet ends up at.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
# RFC 8215's local-use prefix: a network may embed the IPv4 address after /48, /56, /64 or
# /96; only the /96 form can be read without knowing the network, the others are refused.
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_NAT64_LOCAL_96 = ipaddress.IPv6Network("64:ff9b:1::/96")
# IPv4-compatible addresses (deprecated, still routed by some stacks as IPv4).
_COMPATIBLE = ipaddress.IPv6Network("::/96")
# Not for the public internet, yet counted as global by some Python versions' tables: IETF
# protocol assignments (192.0.0.8, the dummy address, among them) and IPv6 site-local.
_LOCAL: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = (
    ipaddress.IPv4Network("192.0.0.0/24"),
    ipaddress.IPv6Network("fec0::/10"),
)


class Refused(Exception):
    """The URL may not be fetched; the message is short and safe to show to the caller."""


class BadUrl(Refused):
    pass


class DoesNotResolve(Refused):
    pass


class AddressNotAllowed(Refused):
    pass


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address] | None:
    """The IPv4 addresses an IPv6 address carries ([] if none), or None when it carries one
    that cannot be read (so the address must be refused)."""
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)  # the Teredo server and the client's (un-obfuscated) address
    last32 = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip in _NAT64 or ip in _NAT64_LOCAL_96:
        return [last32]
    if ip in _NAT64_LOCAL:
        return None
    if ip in _COMPATIBLE and int(ip) > 1:  # :: and ::1 are not IPv4 addresses
        return [last32]
    return []


def is_public(address: str) -> bool:
    """Whether a connection to `address` (an IP address, IPv6 with or without a zone) leaves
    for the public internet."""
    try:
        ip: IPAddress = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is None:
            return False
        if embedded:
            # The packet ends up at the IPv4 address: it decides, whatever Python's tables
            # say of the IPv6 prefix around it (they count 64:ff9b::/96 and 2002::/16 as
            # global, and differ between versions on the others).
            return all(_public_ip(v4) for v4 in embedded)
    return _public_ip(ip)


def _public_ip(ip: IPAddress) -> bool:
    if ip.is_multicast or not ip.is_global:
        return False
    return not any(ip.version == net.version and ip in net for net in _LOCAL)


def _literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.split("%", 1)[0]))
    except ValueError:
        return None


async def resolve(host: str, port: int) -> list[str]:
    """Every address `host` resolves to (an IP address resolves to itself, without DNS)."""
    literal = _literal(host)
    if literal is not None:
        return [literal]
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise DoesNotResolve("the host does not resolve") from exc
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise DoesNotResolve("the host does not resolve")
    return addresses


async def checked_addresses(host: str, port: int, allow_private: bool) -> list[str]:
    """The addresses of `host`, all of them public unless `allow_private`; one that is not
    refuses the host (a DNS answer mixing a public and a private address is an attack)."""
    addresses = await resolve(host, port)
    if not allow_private and not all(is_public(a) for a in addresses):
        raise AddressNotAllowed(NOT_ALLOWED)
    return addresses


@dataclass(frozen=True, slots=True)
class Target:
    """Where to connect for a URL that passed the check: the first checked address, with the
    Host header and the TLS server name of the URL."""

    url: str  # the URL with the checked address in place of the host name
    host_header: str
    server_name: str | None  # for TLS: the URL's host name, not the address
    addresses: tuple[str, ...]


def split_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        port = parts.port
    except ValueError as exc:
        raise BadUrl("the URL has a bad host or port") from exc
    if parts.scheme not in ("http", "https") or not host:
        raise BadUrl("only http and https URLs are accepted")
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80)


async def checked_target(url: str, allow_private: bool) -> Target:
    scheme, host, port = split_url(url)
    addresses = await checked_addresses(host, port, allow_private)
    parts = urlsplit(url)
    pinned = addresses[0]
    netloc_host = f"[{pinned}]" if ":" in pinned else pinned
    target = urlunsplit((scheme, f"{netloc_host}:{port}", parts.path or "/", parts.query, ""))
    host_header = parts.netloc.rsplit("@", 1)[-1]
    return Target(target, host_header, host if scheme == "https" else None, tuple(addresses))


def is_ip_literal(host: str) -> bool:
    return _literal(host) is not None


async def check_url(url: str, allow_private: bool) -> None:
    """Refuse (AddressNotAllowed, BadUrl) a URL that resolves now to an address the guard
    does not allow. A host that does not resolve yet passes: every fetch checks again."""
    _, host, port = split_url(url)
    try:
        await checked_addresses(host, port, allow_private)
    except DoesNotResolve:
        return
