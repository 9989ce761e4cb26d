"""Loopback proxies for tests that dial nowhere. The HTTP one records what it is asked for,
refuses every CONNECT (403) and answers a plain GET itself from the pages it is given; the
SOCKS5 one records the user name, password and target of each connection, then answers the
HTTP request that comes through it itself, from its pages."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from tests.support.polling import eventually

HEAD_LIMIT = 64 * 1024


@dataclass(frozen=True)
class Asked:
    method: str
    target: str  # CONNECT: host:port; GET: the absolute URL
    credentials: str | None  # user:password of Proxy-Authorization (Basic), if sent


@dataclass
class RecordingProxy:
    port: int = 0
    asked: list[Asked] = field(default_factory=list)
    pages: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # path -> body, type

    def url(self, credentials: str | None = None) -> str:
        userinfo = f"{credentials}@" if credentials else ""
        return f"http://{userinfo}127.0.0.1:{self.port}"

    async def wait_asked(self, count: int = 1, timeout: float = 30.0) -> list[Asked]:
        async def enough() -> list[Asked] | None:
            return list(self.asked) if len(self.asked) >= count else None

        return await eventually(
            enough, timeout=timeout, what=f"{count} proxy requests", seen=lambda: self.asked
        )

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            writer.close()
            return
        self.asked.append(_parse(head))
        await self._answer(head, writer)

    async def _answer(self, head: bytes, writer: asyncio.StreamWriter) -> None:
        asked = _parse(head)
        method, target = asked.method, asked.target
        if method == "CONNECT":
            writer.write(
                b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            )
        else:
            body, kind = self.pages.get(urlsplit(target).path, (b"not here", "text/plain"))
            status = "200 OK" if urlsplit(target).path in self.pages else "404 Not Found"
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n".encode()
                + body
            )
        try:
            await writer.drain()
        finally:
            writer.close()


@dataclass
class SocksProxy(RecordingProxy):
    """SOCKS5 with user name and password (RFC 1928, 1929): `asked` holds CONNECT with
    the target as host:port and the credentials it was given."""

    def url(self, credentials: str | None = None) -> str:
        userinfo = f"{credentials}@" if credentials else ""
        return f"socks5://{userinfo}127.0.0.1:{self.port}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            credentials = await self._handshake(reader, writer)
            target = await self._request(reader, writer)
            self.asked.append(Asked("CONNECT", target, credentials))
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            writer.close()
            return
        await self._answer(head, writer)

    async def _handshake(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> str | None:
        _, count = await reader.readexactly(2)
        methods = await reader.readexactly(count)
        if 2 not in methods:
            writer.write(b"\x05\x00")  # no authentication
            return None
        writer.write(b"\x05\x02")  # user name and password
        _, size = await reader.readexactly(2)
        user = await reader.readexactly(size)
        (size,) = await reader.readexactly(1)
        password = await reader.readexactly(size)
        writer.write(b"\x01\x00")
        return f"{user.decode()}:{password.decode()}"

    async def _request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str:
        _, _, _, kind = await reader.readexactly(4)
        if kind == 1:
            host = ".".join(str(b) for b in await reader.readexactly(4))
        elif kind == 3:
            (size,) = await reader.readexactly(1)
            host = (await reader.readexactly(size)).decode()
        else:
            host = (await reader.readexactly(16)).hex()
        port = int.from_bytes(await reader.readexactly(2), "big")
        # Succeeded, bound to 0.0.0.0:0: the proxy itself will answer.
        writer.write(b"\x05\x00\x00\x01" + bytes(6))
        return f"{host}:{port}"


def _parse(head: bytes) -> Asked:
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = [*lines[0].split(" ", 2), "", ""][:3]
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return Asked(method, target, _basic(headers.get("proxy-authorization")))


def _basic(value: str | None) -> str | None:
    if not value or not value.lower().startswith("basic "):
        return None
    return base64.b64decode(value[6:].strip()).decode()


@asynccontextmanager
async def recording_proxy(socks: bool = False) -> AsyncIterator[RecordingProxy]:
    proxy = SocksProxy() if socks else RecordingProxy()
    server = await asyncio.start_server(proxy._serve, "127.0.0.1", 0, limit=HEAD_LIMIT)
    proxy.port = server.sockets[0].getsockname()[1]
    try:
        yield proxy
    finally:
        server.close()
        await server.wait_closed()
