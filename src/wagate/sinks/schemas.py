"""GET /v1/sinks: every consumer of the event bus, and the backlog of the durable ones."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from wagate.instances.schemas import EventName, Strict
from wagate.sinks.transport import SinkName


class SinkOut(BaseModel):
    name: str = Field(description="webhooks, amqp, nats, streams (SSE), cluster relay, ...")
    kind: Literal["durable", "live"] = Field(
        description="durable: an outbox in the database, nothing lost; live: in memory, a "
        "reader that cannot keep up is cut off"
    )
    target: str | None = Field(
        None, description="Where a broker sink publishes (host, port, exchange or stream)"
    )
    connected: bool | None = Field(
        None, description="Whether this node is connected to the sink's broker now"
    )
    pending: int | None = Field(None, description="Outbox rows not delivered yet (all nodes)")
    retrying: int | None = Field(
        None, description="Of those, the rows whose last try failed, waiting for their retry"
    )
    lag_s: float | None = Field(
        None, description="Age in seconds of the oldest row not delivered yet (0: none)"
    )
    oldest_pending_at: datetime | None = None
    last_error: str | None = Field(
        None, description="The error of the latest failed try, or of this node's connection"
    )


class SinkList(BaseModel):
    sinks: list[SinkOut]


class SinkFilterIn(Strict):
    events: list[EventName] = Field(
        description="The events of this instance the transport publishes; [] for none"
    )


class SinkFilterOut(BaseModel):
    sink: SinkName
    events: list[str] | None = Field(
        description="null: no filter of the instance's own (every event the transport's "
        "WAGATE_*_EVENTS lets through)"
    )
