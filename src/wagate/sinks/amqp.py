"""The RabbitMQ transport: persistent messages on a durable topic exchange, with publisher
confirms, so that a row is done only when the broker has taken the message."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractExchange
from pydantic import SecretStr
from yarl import URL

from wagate.sinks.transport import Outgoing, Unconfirmed, check_template, render

CONNECT_TIMEOUT_S = 10.0

# aiormq logs every failed connect at error level: once a second while the broker is down. The
# sink worker says it once (and every 20th failure), with what else matters (lag in /metrics).
logging.getLogger("aiormq.connection").setLevel(logging.CRITICAL)


class AmqpTransport:
    name = "amqp"

    def __init__(
        self,
        url: SecretStr,
        exchange: str,
        routing_key: str,
        *,
        queue: str | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self._url = url
        self.exchange_name = exchange
        self.routing_key = check_template(routing_key, "WAGATE_AMQP_ROUTING_KEY")
        self.queue = queue
        self.timeout_s = timeout_s
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None
        parsed = URL(url.get_secret_value())
        self.password = parsed.password
        self.target = f"{parsed.host}:{parsed.port or 5672}{parsed.path or '/'} exchange {exchange}"

    @property
    def connected(self) -> bool:
        return (
            self._exchange is not None
            and self._connection is not None
            and not self._connection.is_closed
            and self._channel is not None
            and not self._channel.is_closed
        )

    async def connect(self) -> None:
        await self.close()
        # A plain connection, not a robust one: the sink worker decides when to reconnect
        # (after a backoff, before its next claim), and no publish is retried behind its back.
        connection = await aio_pika.connect(self._url.get_secret_value(), timeout=CONNECT_TIMEOUT_S)
        try:
            channel = await connection.channel(publisher_confirms=True)
            exchange = await channel.declare_exchange(
                self.exchange_name, aio_pika.ExchangeType.TOPIC, durable=True
            )
            if self.queue:
                queue = await channel.declare_queue(self.queue, durable=True)
                await queue.bind(exchange, routing_key="#")
        except BaseException:
            await connection.close()
            raise
        self._connection, self._channel, self._exchange = connection, channel, exchange

    async def publish(self, message: Outgoing) -> bool:
        exchange = self._exchange
        if exchange is None or not self.connected:
            raise Unconfirmed("not connected")
        body = aio_pika.Message(
            message.body,
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            content_type="application/json",
            message_id=message.event_id,
            type=message.event,
        )
        try:
            # mandatory=False: a routing key no queue is bound to is the consumers' choice (a
            # topic filter), confirmed and dropped by the broker like any topic publish.
            await exchange.publish(
                body, render(self.routing_key, message), mandatory=False, timeout=self.timeout_s
            )
        except Exception as exc:  # a timeout, a nack, a closed channel: not confirmed
            raise Unconfirmed(f"{type(exc).__name__}: {exc}") from exc
        return False

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        self._channel = self._exchange = None
        if connection is not None and not connection.is_closed:
            # A broken connection is closed enough.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), CONNECT_TIMEOUT_S)
