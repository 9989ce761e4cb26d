"""Prometheus metrics of the gateway, on one registry per process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "wagate_http_requests_total",
    "HTTP requests by method, route and status code",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "wagate_http_request_duration_seconds",
    "HTTP request latency by route",
    ["route"],
    registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
INSTANCES_BY_STATUS = Gauge(
    "wagate_instances", "Instances held by this node, by status", ["status"], registry=REGISTRY
)
SENDS = Counter(
    "wagate_sends_total", "Sends by kind and outcome", ["kind", "outcome"], registry=REGISTRY
)
SEND_RETRIES = Counter("wagate_send_retries_total", "Send retries scheduled", registry=REGISTRY)
DEAD_LETTERS = Counter(
    "wagate_dead_letters_total", "Messages moved to the dead-letter queue", registry=REGISTRY
)
QUEUE_DEPTH = Gauge(
    "wagate_queue_depth", "Messages waiting in the queue of this node", registry=REGISTRY
)
WEBHOOK_DELIVERIES = Counter(
    "wagate_webhook_deliveries_total",
    "Webhook delivery attempts by outcome",
    ["outcome"],
    registry=REGISTRY,
)
SINK_PUBLISHES = Counter(
    "wagate_sink_publishes_total",
    "Broker sink publishes by sink and outcome (delivered, retried, duplicate: confirmed as "
    "already held by the broker)",
    ["sink", "outcome"],
    registry=REGISTRY,
)
SINK_CONNECT_FAILURES = Counter(
    "wagate_sink_connect_failures_total",
    "Failed connections of this node to a broker sink",
    ["sink"],
    registry=REGISTRY,
)
SINK_CONNECTED = Gauge(
    "wagate_sink_connected",
    "1 while this node is connected to the sink's broker",
    ["sink"],
    registry=REGISTRY,
)
SINK_PENDING = Gauge(
    "wagate_sink_pending",
    "Outbox rows of a sink not delivered yet (all nodes)",
    ["sink"],
    registry=REGISTRY,
)
SINK_RETRYING = Gauge(
    "wagate_sink_retrying",
    "Outbox rows of a sink whose last publish failed, waiting for their retry (all nodes)",
    ["sink"],
    registry=REGISTRY,
)
SINK_LAG = Gauge(
    "wagate_sink_lag_seconds",
    "Age of the oldest outbox row of a sink not delivered yet (0: none)",
    ["sink"],
    registry=REGISTRY,
)
