"""Slow request heads (slowloris): uvicorn's HTTP protocol with a deadline for the head.

uvicorn waits forever for a request head that never completes, and for a first request on a
new connection: a client can hold connections open by sending a header byte now and then.
This protocol closes a connection whose request head (request line and headers) is not
complete `head_timeout_s` after the connection was opened or after the request's first byte
arrived, and one whose head grows past `max_head_bytes` (httptools itself has no such cap),
whether the head arrives over many reads or in one. The body has its own deadlines
(wagate.limits, `408 request_timeout`).
"""

from __future__ import annotations

import asyncio

import structlog
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = structlog.get_logger(__name__)

HEAD_TOO_LARGE = (
    b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
    b"content-length: 0\r\nconnection: close\r\n\r\n"
)


class HeadTooLarge(Exception):
    pass


class HeadLimitedProtocol(HttpToolsProtocol):
    head_timeout_s: float = 10.0
    max_head_bytes: int = 64 * 1024

    _head_timer: asyncio.TimerHandle | None = None
    _head_open = False  # a request head has begun and is not complete yet
    _head_bytes = 0
    _chunk_bytes = 0  # the size of the read being parsed
    _head_refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # a connection that sends nothing at all is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._chunk_bytes = len(data)
        super().data_received(data)
        # Counted only while the head is still incomplete after this chunk: body bytes that
        # share a chunk with the head's end do not count against the head.
        if not self._head_open or self.transport.is_closing():
            return
        self._head_bytes += len(data)
        if self._head_bytes > self.max_head_bytes:
            self._refuse_head()

    def send_400_response(self, msg: str) -> None:
        if self._head_refused:  # our 431 is out and the connection closing: no 400 after it
            return
        super().send_400_response(msg)

    def _refuse_head(self) -> None:
        log.warning("request head too large; connection closed", client=self.client)
        self._disarm()
        self._head_open = False
        self._head_refused = True
        self.transport.write(HEAD_TOO_LARGE)
        self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_open, self._head_bytes = True, 0
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        self._head_open = False
        # A head that came complete within one read never counted above; the bytes read so
        # far bound its size, so only a read bigger than the cap measures the head itself.
        if (
            self._head_bytes + self._chunk_bytes > self.max_head_bytes
            and self._head_size() > self.max_head_bytes
        ):
            self._refuse_head()
            # Stops the parser before the request reaches the app; uvicorn answers a parser
            # error with a 400, which send_400_response leaves out.
            raise HeadTooLarge
        super().on_headers_complete()

    def _head_size(self) -> int:
        # The request line and the headers as sent, less the spaces and line ends that
        # httptools drops (what is left is what a cap is about).
        return len(self.url) + sum(len(name) + len(value) + 4 for name, value in self.headers)

    def _arm(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_timeout_s, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.cycle is not None and not self.cycle.response_complete:
            # A pipelined head waits behind a request still being answered: it is read once
            # that answer is out, so its clock starts again.
            self._arm()
            return
        if not self.transport.is_closing():
            log.info("request head not complete in time; connection closed", client=self.client)
            self.transport.close()


def head_limited_protocol(head_timeout_s: float, max_head_bytes: int) -> type[HttpToolsProtocol]:
    """The protocol class to give uvicorn as `http`, with these limits."""
    return type(
        "HeadLimitedProtocol",
        (HeadLimitedProtocol,),
        {"head_timeout_s": head_timeout_s, "max_head_bytes": max_head_bytes},
    )
