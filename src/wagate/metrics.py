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
