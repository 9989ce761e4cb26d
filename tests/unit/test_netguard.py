"""The address guard's decisions, checked without a connection: every address here is only
classified, and the host names resolve from /etc/hosts or are IP literals (no DNS query)."""

from __future__ import annotations

import pytest

from wagate import netguard
from wagate.netguard import is_public

NOT_PUBLIC = [
    # IPv4: loopback, private, link-local (metadata), CGNAT, "this network", multicast,
    # reserved, broadcast, documentation and benchmarking ranges
    "127.0.0.1",
    "127.255.255.254",
    "10.0.0.1",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254",
    "169.254.0.1",
    "100.64.0.1",
    "100.127.255.254",
    "0.0.0.0",
    "0.1.2.3",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "255.255.255.255",
    "192.0.0.8",
    "192.0.0.9",
    "192.0.2.1",
    "198.18.0.1",
    "198.51.100.1",
    "203.0.113.1",
    # IPv6: loopback, unspecified, link-local (with a zone too), ULA, the AWS metadata
    # address, multicast (also global scope), documentation
    "::1",
    "::",
    "fe80::1",
    "fe80::1%eth0",
    "fc00::1",
    "fd00::1",
    "fd00:ec2::254",
    "fec0::1",
    "ff02::1",
    "ff0e::1",
    "2001:db8::1",
    # IPv4-mapped
    "::ffff:127.0.0.1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    # IPv4-compatible
    "::127.0.0.1",
    "::10.0.0.1",
    "::169.254.169.254",
    "::192.168.0.1",
    # NAT64, the well-known prefix and the local-use one
    "64:ff9b::127.0.0.1",
    "64:ff9b::10.0.0.1",
    "64:ff9b::a9fe:a9fe",
    "64:ff9b::192.168.1.1",
    "64:ff9b:1::10.0.0.1",
    "64:ff9b:1::a9fe:a9fe",
    "64:ff9b:1:a00:1::",  # an embedding after /48 that cannot be read: refused
    # 6to4: 2002:AABB:CCDD::/48 carries AA.BB.CC.DD
    "2002:7f00:1::1",
    "2002:a00:1::1",
    "2002:a9fe:a9fe::",
    "2002:c0a8:101::1",
    # Teredo: the client (obfuscated: bits inverted) or the server is private
    "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # client 10.0.0.1
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # client 127.0.0.1
    "2001:0:a00:1:8000:63bf:f7f7:f7f7",  # server 10.0.0.1
    # not an address at all
    "localhost",
    "",
]

PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "2606:4700::1111",
    "2a00:1450:4001:80b::200e",
    "::ffff:8.8.8.8",
    "::8.8.8.8",
    "64:ff9b::8.8.8.8",
    "64:ff9b:1::8.8.8.8",
    "2002:808:808::1",
    "2001:0:4136:e378:8000:63bf:f7f7:f7f7",  # server 65.54.227.120, client 8.8.8.8
]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_not_public(address: str) -> None:
    assert not is_public(address)


@pytest.mark.parametrize("address", PUBLIC)
def test_public(address: str) -> None:
    assert is_public(address)


@pytest.mark.parametrize(
    "host",
    # /etc/hosts and numeric forms that the C library reads as 127.0.0.1 without DNS
    ["localhost", "127.0.0.1", "127.1", "2130706433", "0x7f.0.0.1", "[::1]", "[::ffff:7f00:1]"],
)
async def test_loopback_host_is_refused(host: str) -> None:
    url = f"http://{host}:8080/x"
    with pytest.raises(netguard.AddressNotAllowed):
        await netguard.checked_target(url, allow_private=False)
    allowed = await netguard.checked_target(url, allow_private=True)
    assert all(not is_public(a) for a in allowed.addresses)


async def test_one_private_address_in_the_answer_refuses_the_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A DNS answer mixing a public and a private address must not pass because the public
    # one comes first: the client may fall back to the next address.
    async def answer(host: str, port: int) -> list[str]:
        return ["8.8.8.8", "10.0.0.1"] if host == "mixed.test" else ["8.8.4.4"]

    monkeypatch.setattr(netguard, "resolve", answer)
    with pytest.raises(netguard.AddressNotAllowed):
        await netguard.checked_addresses("mixed.test", 443, allow_private=False)
    assert await netguard.checked_addresses("public.test", 443, allow_private=False) == ["8.8.4.4"]


async def test_target_keeps_host_header_and_tls_name() -> None:
    target = await netguard.checked_target(
        "https://user:pw@localhost:8443/a/b?c=1#frag", allow_private=True
    )
    assert target.url == "https://127.0.0.1:8443/a/b?c=1"
    assert target.host_header == "localhost:8443"
    assert target.server_name == "localhost"
    plain = await netguard.checked_target("http://localhost/", allow_private=True)
    assert plain.server_name is None and plain.url == "http://127.0.0.1:80/"


@pytest.mark.parametrize("url", ["ftp://localhost/x", "http:///x", "http://localhost:99999/"])
async def test_bad_urls(url: str) -> None:
    with pytest.raises(netguard.BadUrl):
        await netguard.checked_target(url, allow_private=True)


async def test_check_url_lets_an_unresolvable_host_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    # Set now, checked at every fetch: a host whose DNS is not set up yet is no address.
    async def nothing(host: str, port: int) -> list[str]:
        raise netguard.DoesNotResolve("the host does not resolve")

    monkeypatch.setattr(netguard, "resolve", nothing)
    await netguard.check_url("https://later.test/hook", allow_private=False)
    monkeypatch.undo()
    with pytest.raises(netguard.AddressNotAllowed):
        await netguard.check_url("http://127.0.0.1:9/hook", allow_private=False)
