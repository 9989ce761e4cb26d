"""The guarded fetch of a URL a caller gave (a send's media, a link preview's page and image).

Every address the host resolves to must be public unless WAGATE_ALLOW_PRIVATE_MEDIA_URLS is set
(wagate/netguard.py), the connection goes to the address that was checked (no second DNS answer
can swap it), each redirect is checked again, and the body is read within a size limit and a
timeout. In core so that both the messages feature and an engine's link preview use this one
fetcher.

An instance with a proxy fetches through it. The target is checked all the same; a plain http
target is still asked for at its checked address, an https one by its name (the proxy
resolves it: the TLS name must be the host's, and a tunnel's is taken from the URL).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urljoin, urlsplit

import httpx

from wagate import netguard, proxies
from wagate.config import Settings
from wagate.errors import PayloadTooLarge, ValidationFailed
from wagate.logs import scrub_text

MAX_REDIRECTS = 5


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the media is larger than the limit of {limit} bytes", details={"limit": limit}
    )


async def read_limited(chunks: AsyncIterator[bytes], limit: int, truncate: bool = False) -> bytes:
    """Collect a byte stream, stopping with 413 as soon as it passes `limit` (or, with
    `truncate`, returning its first `limit` bytes)."""
    buffer = bytearray()
    async for chunk in chunks:
        buffer.extend(chunk)
        if len(buffer) > limit:
            if truncate:
                return bytes(buffer[:limit])
            raise too_large(limit)
    return bytes(buffer)


async def download(
    url: str,
    settings: Settings,
    client: httpx.AsyncClient | None = None,
    *,
    limit: int | None = None,
    timeout_s: float | None = None,
    truncate: bool = False,
    proxy: str | None = None,
) -> tuple[bytes, str | None]:
    """The body of `url` and its declared content type, within the limit and the timeout
    (the media ones unless given; `truncate`: the body's first `limit` bytes, not a 413),
    through `proxy` (the instance's proxy URL) when given."""
    limit = settings.max_media_bytes if limit is None else limit
    timeout_s = settings.media_download_timeout_s if timeout_s is None else timeout_s
    own = client is None or proxy is not None
    try:
        async with asyncio.timeout(timeout_s):
            if proxy is not None:
                await _check_proxy(proxy, settings)
            http = (
                httpx.AsyncClient(timeout=httpx.Timeout(timeout_s), proxy=proxy) if own else client
            )
            assert http is not None
            try:
                return await _fetch(http, url, settings, limit, truncate, proxied=proxy is not None)
            finally:
                if own:
                    await http.aclose()
    except TimeoutError as exc:
        raise ValidationFailed.field("media.url", "the download timed out") from exc
    except httpx.HTTPError as exc:
        # Scrubbed: a proxy's error may quote its URL, credentials and all.
        raise ValidationFailed.field(
            "media.url", f"the download failed: {scrub_text(str(exc))}"
        ) from None


async def _check_proxy(proxy: str, settings: Settings) -> None:
    """Checked again at each use: the name of a proxy that passed when it was set may point
    elsewhere now."""
    view = proxies.parse(proxy)
    try:
        await netguard.checked_addresses(view.host, view.port, settings.allow_private_proxies)
    except netguard.Refused as exc:
        message = str(exc).replace("the URL", "the instance's proxy")
        raise ValidationFailed.field("media.url", message) from None


async def _fetch(
    http: httpx.AsyncClient,
    url: str,
    settings: Settings,
    limit: int,
    truncate: bool,
    *,
    proxied: bool,
) -> tuple[bytes, str | None]:
    for _ in range(MAX_REDIRECTS + 1):
        try:
            target = await netguard.checked_target(url, settings.allow_private_media_urls)
        except netguard.Refused as exc:
            raise ValidationFailed.field("media.url", str(exc)) from exc
        sni = target.server_name
        extensions = {"sni_hostname": sni} if sni else {}
        address = target.url
        if proxied and urlsplit(url).scheme == "https":
            address = url  # by name: see the module's docstring
        request = http.build_request(
            "GET", address, headers={"Host": target.host_header}, extensions=extensions
        )
        response = await http.send(request, stream=True)
        try:
            if response.is_redirect and "location" in response.headers:
                url = urljoin(url, response.headers["location"])
                continue
            if response.status_code >= 400:
                raise ValidationFailed.field(
                    "media.url", f"the URL answered HTTP {response.status_code}"
                )
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > limit and not truncate:
                raise too_large(limit)
            data = await read_limited(response.aiter_bytes(), limit, truncate)
            content_type = response.headers.get("content-type")
            return data, content_type.split(";")[0].strip() if content_type else None
        finally:
            await response.aclose()
    raise ValidationFailed.field("media.url", "too many redirects")
