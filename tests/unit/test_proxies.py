"""Proxy URLs: what is accepted, what is shown of them, and that an error never repeats one."""

from __future__ import annotations

import pytest

from wagate import proxies
from wagate.engines.base import InstanceRef
from wagate.logs import scrub_text

PASSWORD = "pw-9f8e7d6c"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://proxy.example.com:3128", ("http", "proxy.example.com", 3128, False)),
        ("https://u:p@proxy.example.com", ("https", "proxy.example.com", 443, True)),
        ("socks5://user@10.0.0.1", ("socks5", "10.0.0.1", 1080, True)),
        ("SOCKS5://[2001:db8::1]:9050/", ("socks5", "2001:db8::1", 9050, False)),
        ("http://proxy.example.com:80", ("http", "proxy.example.com", 80, False)),
    ],
)
def test_accepted_proxies_and_what_is_shown(url: str, shown: tuple[str, str, int, bool]) -> None:
    view = proxies.parse(url)
    assert (view.scheme, view.host, view.port, view.credentials_set) == shown


@pytest.mark.parametrize(
    "url",
    [
        f"ftp://u:{PASSWORD}@h:21",
        f"socks4://u:{PASSWORD}@h:1080",
        f"http://u:{PASSWORD}@:1",
        f"http://u:{PASSWORD}@h:65536",
        f"http://u:{PASSWORD}@h:x",
        f"http://u:{PASSWORD}@h:1/p",
        f"http://u:{PASSWORD}@h:1#f",
        f"http://:{PASSWORD}@h:1",
        f"http://u:{PASSWORD}@h :1",
        "http://h:1\n",
        "http://" + "h" * 3000,
        "",
    ],
)
def test_malformed_proxies_are_refused_without_repeating_them(url: str) -> None:
    with pytest.raises(proxies.BadProxy) as caught:
        proxies.parse(url)
    assert PASSWORD not in str(caught.value)
    assert caught.value.__cause__ is None  # no chained parser error quoting the URL


def test_stored_entry_keeps_the_view_in_the_clear_and_the_url_encrypted() -> None:
    url = f"socks5://alice:{PASSWORD}@proxy.example.com:1080"
    entry = proxies.stored(url, lambda plain: "enc:" + plain[::-1])
    assert entry["url"] == "enc:" + url[::-1]
    assert proxies.view_of(entry) == proxies.parse(url)
    assert proxies.encrypted_url({"proxy": entry}) == entry["url"]
    assert proxies.view_of(None) is None and proxies.encrypted_url({"proxy": None}) is None


def test_log_text_loses_a_url_user_name_and_password() -> None:
    text = scrub_text(f"dial socks5://alice:{PASSWORD}@proxy.example.com:1080 failed")
    assert PASSWORD not in text and "alice" not in text
    assert "proxy.example.com:1080" in text
    assert "alice" not in scrub_text("proxy at socks5://alice@proxy.example.com:1080")


def test_the_ref_a_client_is_made_with_hides_its_proxy() -> None:
    ref = InstanceRef(1, "shop", proxy=f"socks5://alice:{PASSWORD}@proxy.example.com:1080")
    assert PASSWORD not in repr(ref) and PASSWORD not in str(ref)
    assert ref == InstanceRef(1, "shop")  # the same instance, whatever its proxy
