"""The send policy of an instance: caps, warm-up, quiet hours, per-recipient and
new-conversation limits, and the circuit breaker that pauses sending (docs/send-policy.md).

`rules` decides without I/O; `counters` and `service` carry the decisions out; the worker's
sender and the send and contacts-check routes ask the service."""
