"""The broker sinks built from the settings, and what `GET /v1/sinks` says of every sink."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from wagate.config import Settings
from wagate.db import Database, utcnow
from wagate.errors import NotFound
from wagate.instances import repository as instances
from wagate.node import HasBus, HasDb
from wagate.sinks import repository
from wagate.sinks.amqp import AmqpTransport
from wagate.sinks.delivery import SinkWorker, lag_s, publish_gauges
from wagate.sinks.jetstream import NatsTransport
from wagate.sinks.outbox import BrokerOutbox
from wagate.sinks.repository import SinkStats
from wagate.sinks.schemas import SinkFilterIn, SinkFilterOut, SinkList, SinkOut
from wagate.sinks.transport import SinkName, Transport


class SinksNode(HasBus, HasDb, Protocol):
    """What the sink routes use of the node."""


def transports(settings: Settings) -> list[tuple[Transport, list[str] | None]]:
    """The configured broker transports, each with its filter of event types."""
    found: list[tuple[Transport, list[str] | None]] = []
    timeout = settings.sink_publish_timeout_s
    if settings.amqp_url is not None:
        amqp = AmqpTransport(
            settings.amqp_url,
            settings.amqp_exchange,
            settings.amqp_routing_key,
            queue=settings.amqp_queue,
            timeout_s=timeout,
        )
        found.append((amqp, settings.amqp_event_filter))
    if settings.nats_url is not None:
        nats = NatsTransport(
            settings.nats_url, settings.nats_subject, settings.nats_stream, timeout_s=timeout
        )
        found.append((nats, settings.nats_event_filter))
    return found


def build_sinks(settings: Settings, db: Database) -> list[BrokerOutbox]:
    """One durable sink per configured broker, to register on the bus (which starts them)."""
    return [
        BrokerOutbox(db, SinkWorker(settings, db, transport), events, settings.instance_cache_ttl_s)
        for transport, events in transports(settings)
    ]


async def describe(state: SinksNode) -> SinkList:
    sinks = state.bus.sinks()
    brokers = {sink.name: sink for sink in sinks if isinstance(sink, BrokerOutbox)}
    async with state.db.session() as session:
        found = await repository.stats(session, list(brokers))
        webhooks = await repository.webhook_stats(session)
    now = utcnow()
    out: list[SinkOut] = []
    for sink in sinks:
        if sink.name in brokers:
            stats = found[sink.name]
            publish_gauges(sink.name, stats, now)
            worker = brokers[sink.name].worker
            out.append(
                _durable(sink.name, stats, now).model_copy(
                    update={
                        "target": worker.transport.target,
                        "connected": worker.transport.connected,
                        "last_error": stats.last_error or worker.last_connect_error,
                    }
                )
            )
        elif sink.durable and sink.name == "webhooks":
            out.append(_durable(sink.name, webhooks, now))
        else:
            out.append(SinkOut(name=sink.name, kind="durable" if sink.durable else "live"))
    return SinkList(sinks=out)


def _durable(name: str, stats: SinkStats, now: datetime) -> SinkOut:
    return SinkOut(
        name=name,
        kind="durable",
        pending=stats.pending,
        retrying=stats.retrying,
        lag_s=round(lag_s(stats, now), 3),
        oldest_pending_at=stats.oldest_pending_at,
        last_error=stats.last_error,
    )


async def _instance_id(state: HasDb, name: str) -> int:
    async with state.db.session() as session:
        row = await instances.get_by_name(session, name)
    if row is None:
        raise NotFound(f"instance '{name}' not found")
    return row.id


async def get_filter(state: SinksNode, name: str, sink: SinkName) -> SinkFilterOut:
    instance_id = await _instance_id(state, name)
    async with state.db.session() as session:
        events = await repository.get_filter(session, instance_id, sink)
    return SinkFilterOut(sink=sink, events=events)


async def put_filter(
    state: SinksNode, name: str, sink: SinkName, body: SinkFilterIn
) -> SinkFilterOut:
    instance_id = await _instance_id(state, name)
    events: list[str] = list(dict.fromkeys(body.events))
    async with state.db.transaction() as session:
        await repository.put_filter(session, instance_id, sink, events)
    _forget(state, sink, instance_id)
    return SinkFilterOut(sink=sink, events=events)


async def delete_filter(state: SinksNode, name: str, sink: SinkName) -> None:
    instance_id = await _instance_id(state, name)
    async with state.db.transaction() as session:
        await repository.delete_filter(session, instance_id, sink)
    _forget(state, sink, instance_id)


def _forget(state: SinksNode, sink: str, instance_id: int) -> None:
    # After the commit: this node's next event of the instance reads the new filter.
    for found in state.bus.sinks():
        if isinstance(found, BrokerOutbox) and found.name == sink:
            found.forget(instance_id)
