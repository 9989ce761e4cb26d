"""The NATS transport: JetStream publish, acknowledged by the stream, with the event id as
`Nats-Msg-Id` so that the stream drops a retried publish it already holds (within its
duplicate window)."""

from __future__ import annotations

import asyncio
import contextlib

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from pydantic import SecretStr
from yarl import URL

from wagate.sinks.transport import Outgoing, Unconfirmed, check_template, render

CONNECT_TIMEOUT_S = 5.0
RECONNECT_WAIT_S = 0.5


def stream_subjects(template: str) -> list[str]:
    """The stream's subjects: the template with each token that holds a placeholder as `*`."""
    return [".".join("*" if "{" in token else token for token in template.split("."))]


async def _quiet(_: Exception) -> None:
    # The client reports every failed reconnect here; the sink worker logs what matters
    # (a publish not acknowledged), once per row, not once per attempt of the client.
    return None


class NatsTransport:
    name = "nats"

    def __init__(
        self, url: SecretStr, subject: str, stream: str, *, timeout_s: float = 10.0
    ) -> None:
        self._url = url
        self.subject = check_template(subject, "WAGATE_NATS_SUBJECT")
        self.stream = stream
        self.timeout_s = timeout_s
        self._client: Client | None = None
        self._js: JetStreamContext | None = None
        parsed = URL(url.get_secret_value())
        self.password = parsed.password or parsed.user
        self.target = f"{parsed.host}:{parsed.port or 4222} stream {stream}"

    @property
    def connected(self) -> bool:
        return self._js is not None and self._client is not None and self._client.is_connected

    async def connect(self) -> None:
        if self._client is not None and not self._client.is_closed:
            # The client reconnects on its own once it has connected: wait for it.
            if not self._client.is_connected:
                raise Unconfirmed("reconnecting")
            await self._ensure_stream()
            return
        client = await nats.connect(
            self._url.get_secret_value(),
            connect_timeout=CONNECT_TIMEOUT_S,
            reconnect_time_wait=RECONNECT_WAIT_S,
            max_reconnect_attempts=-1,
            error_cb=_quiet,
        )
        self._client, self._js = client, client.jetstream(timeout=self.timeout_s)
        try:
            await self._ensure_stream()
        except BaseException:
            await self.close()
            raise

    async def _ensure_stream(self) -> None:
        js = self._js
        assert js is not None
        try:
            await js.stream_info(self.stream)
        except NotFoundError:
            await js.add_stream(name=self.stream, subjects=stream_subjects(self.subject))

    async def publish(self, message: Outgoing) -> bool:
        js = self._js
        if js is None or not self.connected:
            raise Unconfirmed("not connected")
        try:
            ack = await js.publish(
                render(self.subject, message),
                message.body,
                timeout=self.timeout_s,
                stream=self.stream,
                headers={"Nats-Msg-Id": message.event_id},
            )
        except Exception as exc:  # a timeout, no stream, the connection lost: not acknowledged
            raise Unconfirmed(f"{type(exc).__name__}: {exc}") from exc
        return bool(ack.duplicate)

    async def close(self) -> None:
        client, self._client, self._js = self._client, None, None
        if client is not None and not client.is_closed:
            # A broken connection is closed enough.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.close(), CONNECT_TIMEOUT_S)
