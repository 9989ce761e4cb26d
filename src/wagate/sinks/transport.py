"""What a broker transport does for the sink worker: connect, publish one event and return
only once the broker has confirmed it, close. RabbitMQ (amqp.py) and NATS (jetstream.py)."""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Literal, Protocol

# The broker transports, by the name of their sink (the rows' `sink`, the metrics' label, the
# path of an instance's filter): each Transport's `name` is one of them.
SinkName = Literal["amqp", "nats"]

# The placeholders a routing-key or subject template may use.
FIELDS = frozenset({"instance", "event"})


class Unconfirmed(Exception):
    """The broker did not confirm the message (down, refused, timed out): try again later."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One event as it is published: the envelope's JSON, its id (the consumer's dedup key)."""

    event_id: str
    instance: str
    event: str
    body: bytes


class Transport(Protocol):
    @property
    def name(self) -> str:
        """The sink's name: the rows' `sink`, the metrics' label, `GET /v1/sinks`."""
        ...

    @property
    def target(self) -> str:
        """Where it publishes, without credentials (for `GET /v1/sinks` and the logs)."""
        ...

    @property
    def connected(self) -> bool: ...

    async def connect(self) -> None:
        """Connect and declare what publishing needs (exchange, stream); raises on failure."""

    async def publish(self, message: Outgoing) -> bool:
        """Return once the broker confirmed the message: True when it says it had it already
        (a retried publish it deduplicated). Raises Unconfirmed otherwise."""
        ...

    async def close(self) -> None: ...


def check_template(template: str, setting: str) -> str:
    """A template names only {instance} and {event}; anything else stops the start."""
    for _, field, spec, conversion in string.Formatter().parse(template):
        if field is None:
            continue
        if field not in FIELDS or spec or conversion:
            raise ValueError(
                f"{setting}: unknown placeholder {{{field}}} in {template!r}; "
                "use {instance} and {event}"
            )
    return template


def render(template: str, message: Outgoing) -> str:
    # Instance names and event types are [a-z0-9_-]: never a separator or a wildcard of a
    # routing key or subject.
    return template.format(instance=message.instance, event=message.event)


def scrub(text: str, secret: str | None) -> str:
    """An error message without the broker's password (a client may quote its URL)."""
    if secret:
        text = text.replace(secret, "***")
    return text[:1000]
