"""Settings: every WAGATE_* environment variable (and a .env file in the working directory)."""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_node_id() -> str:
    """host name and process id"""
    return f"{socket.gethostname()}-{os.getpid()}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="WAGATE_", env_file=".env", extra="ignore", populate_by_name=True
    )

    # Listen address (`wagate serve --host` overrides); 0.0.0.0 to listen on every interface.
    host: str = "127.0.0.1"
    # Listen port (`wagate serve --port` overrides).
    port: int = 8080
    # SQLite files, WhatsApp device stores, received media and the generated admin-token file.
    data_dir: Path = Path("./data")
    # SQLAlchemy URL; unset: the SQLite file <data dir>/wagate.db. PostgreSQL:
    # postgresql+asyncpg://user:password@host/database.
    database_url: str | None = None
    # Set: Redis Streams queue and multi-node mode (leases, failover). Unset: embedded queue,
    # one node.
    redis_url: str | None = None
    # The admin token (at least 32 characters). Unset: one is generated on first start, stored
    # hashed, written to <data dir>/admin-token and printed once (`wagate admin-token`).
    admin_token: SecretStr | None = None
    # /metrics names instances, nodes and traffic: set, it needs this token (or the admin's)
    # as `Authorization: Bearer`; unset, it stays open for a scraper on a private network.
    metrics_token: SecretStr | None = None
    # Encrypts webhook secrets (and other credentials) in the database (wagate/secretbox.py).
    # Unset: a key file generated in the data directory, which only suits a single node.
    secret_key: SecretStr | None = None
    # Engine of instances created without one: whatsmeow (the real WhatsApp) or simulator.
    engine: Literal["whatsmeow", "simulator"] = "whatsmeow"
    # This node's name in the cluster (default: host name and process id).
    node_id: str = Field(default_factory=_default_node_id)
    # all: serve the API and hold instances; api: serve the API only, hold no instance.
    role: Literal["all", "api"] = "all"
    # With WAGATE_REDIS_URL and role all: `wagate serve` serves the API in its own process and
    # runs the instances, their senders and engines in a child process it supervises (a second
    # node of the cluster on a loopback port, restarted when it dies), so the senders do not
    # share the event loop that answers requests. Still one command and no other service.
    worker_process: bool = False
    # How long a sync send waits for its outcome.
    sync_timeout_s: float = 30.0
    # Largest media file accepted or downloaded.
    max_media_bytes: int = 64 * 1024 * 1024
    # The media one batch may read in all (URLs fetched and base64 decoded): without it one
    # small request pulls 1,000 x max_media_bytes into memory and the database. Unset: 4 x
    # max_media_bytes (see `batch_media_limit`).
    max_batch_media_bytes: int | None = None
    # Width x height (x frames for an animated webp sticker) of an image that is decoded: a
    # sticker the gateway converts, a link-preview thumbnail, the thumbnail the engine makes of
    # an image. Read from the header before decoding: a few hundred kB of PNG can say
    # 12000 x 12000 and take gigabytes to decode.
    max_image_pixels: int = 4096 * 4096
    # Allow media URLs on private, loopback and link-local addresses (off: SSRF guard).
    allow_private_media_urls: bool = False
    # Instance webhooks (an instance token sets them) are posted only to public addresses
    # unless the operator allows private ones; the global WAGATE_WEBHOOK_URL is always trusted.
    allow_private_webhook_urls: bool = False
    # An instance's proxy (its `proxy` setting, which an instance token sets) must be on a
    # public address unless the operator allows private ones: a proxy is dialled by the
    # gateway and its engine hosts, so a private address would reach what only they can reach.
    allow_private_proxies: bool = False
    # The global webhook: URL, signing secret, and a comma-separated list of event types
    # (unset: all).
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_events: str | None = None
    # Webhook delivery: timeout of one post, attempts before a delivery is failed.
    webhook_timeout_s: float = 10.0
    webhook_max_attempts: int = 10
    # Log level (debug, info, warning, error) and format (console, or json: one object a line).
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["console", "json"] = "console"

    # Client manager: reconnect backoff after a dropped connection (bounded, with jitter).
    reconnect_base_delay_s: float = 1.0
    reconnect_max_delay_s: float = 60.0
    # Simulator timings: QR codes rotate every 20 s, 6 codes before qr_timeout; pair-code delay;
    # how long after a send the simulated recipient reports it delivered (then read).
    simulator_qr_interval_s: float = 20.0
    simulator_qr_count: int = 6
    simulator_pair_code_delay_s: float = 3.0
    simulator_receipt_delay_ms: int = 50
    # The history the simulated phone sends a newly linked device: this many chats, each with
    # this many messages (both ways) spread over this many days back (0 chats: no history; a
    # history can also be sent on demand through POST .../simulator/history).
    simulator_history_chats: int = Field(default=0, ge=0, le=1000)
    simulator_history_messages: int = Field(default=10, ge=1, le=10_000)
    simulator_history_days: int = Field(default=60, ge=1, le=3650)
    # whatsmeow engine: clients run in engine-host subprocesses, at most this many per host.
    whatsmeow_instances_per_host: int = Field(default=50, ge=1)
    # Consecutive failed connects before an instance gives up (each connect leaks a handle).
    whatsmeow_connect_attempts: int = Field(default=5, ge=1)
    # How long one call into an engine host (send, connect, ...) may take.
    whatsmeow_call_timeout_s: float = 60.0
    # How long an engine host may take to start and say hello.
    whatsmeow_host_start_timeout_s: float = 30.0
    # Cap of the doubling delay before a crashed engine host is restarted.
    whatsmeow_host_restart_max_delay_s: float = 30.0
    # How long a stop waits for a client: a hanging dial ends by itself (~60 s) in the host.
    whatsmeow_stop_wait_s: float = 5.0
    # socks5://, http:// or https:// proxy for every whatsmeow instance's WhatsApp connection,
    # if any. An instance's own `proxy` setting wins over it for that instance.
    whatsmeow_proxy: str | None = None
    # How long received media is kept. Media of a message the history keeps stays as long as
    # the message does (its instance's history_retention_days).
    media_retention_s: int = 24 * 3600
    # Where received media is kept. Unset: files under <data dir>/media, one per content
    # (SHA-256). A path: that directory instead (every node of a cluster must see the same
    # one). s3://bucket/prefix: an S3-compatible store, with the media_s3_* settings.
    media_store: str | None = None
    # The S3 endpoint of a store other than AWS (MinIO, Ceph, R2, ...); unset: AWS's.
    media_s3_endpoint_url: str | None = None
    media_s3_region: str = "us-east-1"
    # The S3 access key; unset: botocore's own chain (AWS_* variables, profile, instance role).
    media_s3_access_key_id: str | None = None
    # The S3 secret key (handed to the S3 client only, never logged).
    media_s3_secret_access_key: SecretStr | None = None
    # With an S3 store: GET .../media/{id} answers 302 to a presigned URL of the object rather
    # than the bytes through the gateway (`?redirect=1` asks for it on one request).
    media_redirect: bool = False
    # How long a presigned media URL stays valid.
    media_presign_s: int = Field(300, gt=0, le=7 * 24 * 3600)
    # How long a stored object no message refers to any more is kept before it is deleted:
    # room for a message being written that refers to it again.
    media_sweep_grace_s: int = Field(3600, gt=0)
    # How long the content (text, caption, payload) of a final outbound message is kept: the
    # message record stays, its content is blanked after this (wagate/messages/retention.py),
    # so a database leak or backup does not hold every message ever sent.
    message_body_retention_s: int = Field(30 * 24 * 3600, gt=0)
    # Largest request body of a send (which may carry media); unset: room for a
    # max_media_bytes file as base64 plus 1 MiB. Counted while the body is read: 413 over it.
    max_request_bytes: int | None = None
    # Largest body of every other route. Only the sends (and the simulator's inbound
    # messages) carry media: every other body is a small JSON document, and a cap sized for
    # media would let one request make the node parse tens of megabytes.
    max_request_bytes_without_media: int = Field(1024 * 1024, gt=0)
    # A request body that stalls this long between two chunks: 408.
    request_body_timeout_s: float = 30.0
    # A request body not complete this long after it began: 408. The deadline between two
    # chunks alone lets a client hold a request open indefinitely with a byte now and then.
    request_body_deadline_s: float = Field(120.0, gt=0)
    # Requests per second of one authenticated identity (the admin, each instance; 0 = off),
    # and the burst it may spend at once: 429 with Retry-After over it.
    rate_limit_per_s: float = 50.0
    rate_limit_burst: int = 200
    # Whether the admin token is rate-limited too.
    rate_limit_admin: bool = False
    # Failed authentications per second and burst of one client address (0 = off): a wrong
    # token costs a database lookup, so guessing is limited before it reaches the database.
    auth_failure_rate_per_s: float = 1.0
    auth_failure_burst: int = 30
    # Connection limits handed to uvicorn (`wagate serve`): idle keep-alive connections are
    # closed after this many seconds; over `http_limit_concurrency` open connections and
    # requests new ones get 503; request heads are capped at `http_max_header_bytes` (431).
    http_keepalive_timeout_s: int = 5
    http_limit_concurrency: int | None = None
    http_max_header_bytes: int = 64 * 1024
    # A request head (request line + headers) not complete this long after the connection
    # opened or the request began: the connection is closed (slowloris).
    http_header_timeout_s: float = Field(10.0, gt=0)
    # Seconds without an event after which a live stream sends a keep-alive (an SSE comment,
    # a WebSocket {"type": "ping"} message).
    sse_keepalive_s: float = 15.0
    # A live event stream is ended after this many seconds (the client reconnects, with its
    # token checked again): it bounds how long a stream outlives its token when the order to
    # end it (token rotation, logout, deletion) did not reach this node.
    sse_max_lifetime_s: float = Field(3600.0, gt=0)
    # Live event streams (SSE and WebSocket) one token may hold open on one node: each holds a
    # connection and a buffer of events, so a leaked or hostile token cannot pile them up.
    sse_max_streams_per_token: int = Field(10, ge=1)
    # The last events a node keeps (every instance's, in one window) for the live streams that
    # resume after an event id (SSE's Last-Event-ID, the WebSocket's last_event_id); 0: none.
    events_resume_window: int = Field(10_000, ge=0)
    # Events a WebSocket connection may have waiting to be sent: a client that falls this far
    # behind is disconnected (close code 4008) rather than the node buffering without bound.
    ws_send_buffer: int = Field(1000, ge=1)
    # Seconds a WebSocket opened without an Authorization header has to send its token.
    ws_auth_timeout_s: float = Field(5.0, gt=0)
    # Messaging: queue keys, stream entries of dead consumers claimed after this idle time,
    # send retry backoff, the reconciler that re-enqueues lost queue entries, sync polling.
    queue_key_prefix: str = "wagate:"
    queue_claim_idle_ms: int = 30_000
    send_retry_base_s: float = 1.0
    send_retry_max_s: float = 60.0
    reconcile_interval_s: float = 10.0
    reconcile_grace_s: float = 5.0
    sync_poll_interval_s: float = 0.25
    # The send policy of an instance that changed none of it, as JSON (the fields of
    # docs/send-policy.md), e.g. {"per_day": 1000, "warmup": {"start": 50}, "quiet_hours":
    # {"start": "22:00", "end": "08:00"}, "timezone": "Europe/Berlin"}. Empty: no limit, and
    # the circuit breaker with its defaults. A value that is not a policy stops the start.
    send_policy_defaults: str = ""
    # How long another node may still accept a token or instance this node changed (this
    # node forgets at once): see wagate/instances/cache.py. 0 turns the cache off.
    instance_cache_ttl_s: float = 2.0
    # Timeout of one media download from a URL given in a send.
    media_download_timeout_s: float = 30.0
    # How long an Idempotency-Key is remembered.
    idempotency_ttl_s: int = 24 * 3600
    # Webhook delivery: retry backoff (base * 2^(attempt-1), capped, with jitter), how many
    # posts run at once per URL and in all, how many due rows one claim takes, how often the
    # table is polled for rows that other nodes wrote or whose retry fell due, and how long
    # delivered or failed rows are kept.
    webhook_retry_base_delay_s: float = 5.0
    webhook_retry_max_delay_s: float = 3600.0
    webhook_concurrency_per_url: int = 8
    webhook_max_in_flight: int = 1024
    webhook_batch_size: int = 200
    webhook_poll_interval_s: float = 1.0
    webhook_retention_s: int = 7 * 24 * 3600
    webhook_cleanup_interval_s: float = 3600.0
    # RabbitMQ transport: set, every event (of WAGATE_AMQP_EVENTS, a comma-separated list;
    # unset: all) is published, as a persistent message confirmed by the broker, to this
    # durable topic exchange with a routing key made from the template ({instance}, {event}).
    # amqp://user:password@host:5672/vhost. A row of the outbox is done only once confirmed.
    amqp_url: SecretStr | None = None
    amqp_exchange: str = "wagate"
    amqp_routing_key: str = "wagate.{instance}.{event}"
    amqp_events: str | None = None
    # Set: a durable queue of this name, bound to every routing key of the exchange, declared
    # at connect, so that events are kept before any consumer has bound a queue of its own.
    amqp_queue: str | None = None
    # NATS transport: set, every event (of WAGATE_NATS_EVENTS; unset: all) is published to
    # JetStream on a subject made from the template, acknowledged by the server, with the
    # event id as Nats-Msg-Id so that a retried publish is dropped by the stream's dedup. The
    # stream (WAGATE_NATS_STREAM) is created if missing, over the template's subjects.
    nats_url: SecretStr | None = None
    nats_subject: str = "wagate.{instance}.{event}"
    nats_stream: str = "WAGATE"
    nats_events: str | None = None
    # Broker transports (RabbitMQ, NATS): how long one publish waits for its confirmation,
    # the retry backoff while a broker is down or refuses (base * 2^(attempt-1), capped, with
    # jitter; a row is retried until delivered, never dropped), how many due rows one claim
    # takes, how often the outbox is polled for rows other nodes wrote or whose retry fell
    # due, and how long delivered rows are kept.
    sink_publish_timeout_s: float = 10.0
    sink_retry_base_delay_s: float = 0.5
    sink_retry_max_delay_s: float = 30.0
    sink_batch_size: int = 500
    sink_poll_interval_s: float = 1.0
    sink_retention_s: int = 24 * 3600
    # Cluster (with WAGATE_REDIS_URL): instance leases, node heartbeats, forwarding.
    cluster_key_prefix: str = "wagate:cluster:"
    # A lease (and a node's liveness) lives this long without renewal: a killed node's
    # instances are taken over about this long after the kill. Renewals run in a thread of
    # their own, so a busy event loop does not delay them; the node stops an instance's client
    # a quarter of the TTL before its lease could expire.
    lease_ttl_s: float = Field(default=3.0, gt=0)
    lease_renew_interval_s: float = Field(default=0.5, gt=0)
    # Writes nodes.last_seen_at (shown by GET /v1/cluster); liveness comes from the renewals.
    heartbeat_interval_s: float = 5.0
    placement_interval_s: float = 2.0
    internal_url: str | None = None  # how other nodes reach this one; default http://host:port
    forward_timeout_s: float = 30.0

    @field_validator("media_store")
    @classmethod
    def _media_store(cls, value: str | None) -> str | None:
        if value and "://" in value and not value.startswith("s3://"):
            raise ValueError("a media store is a directory or s3://bucket/prefix")
        if value and value.startswith("s3://") and not value[len("s3://") :].split("/")[0]:
            raise ValueError("the S3 media store names no bucket: s3://bucket/prefix")
        return value or None

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @cached_property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'wagate.db').as_posix()}"

    @property
    def node_address(self) -> str:
        if self.internal_url:
            return self.internal_url.rstrip("/")
        host = self.host if self.host not in ("0.0.0.0", "::", "") else socket.gethostname()
        return f"http://{host}:{self.port}"

    @property
    def request_body_limit(self) -> int:
        if self.max_request_bytes is not None:
            return self.max_request_bytes
        # base64 grows media by 4/3; leave room for the JSON around it.
        return self.max_media_bytes * 4 // 3 + 1024 * 1024

    @property
    def batch_media_limit(self) -> int:
        if self.max_batch_media_bytes is not None:
            return self.max_batch_media_bytes
        return self.max_media_bytes * 4

    @property
    def request_body_limit_without_media(self) -> int:
        # A smaller WAGATE_MAX_REQUEST_BYTES holds for every route.
        return min(self.max_request_bytes_without_media, self.request_body_limit)

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @property
    def webhook_event_filter(self) -> list[str] | None:
        if not self.webhook_events:
            return None
        return [e.strip() for e in self.webhook_events.split(",") if e.strip()]

    @property
    def amqp_event_filter(self) -> list[str] | None:
        return _event_list(self.amqp_events)

    @property
    def nats_event_filter(self) -> list[str] | None:
        return _event_list(self.nats_events)


def _event_list(value: str | None) -> list[str] | None:
    """A comma-separated list of event types; None (every event) when unset or empty."""
    events = [e.strip() for e in (value or "").split(",") if e.strip()]
    return events or None


# Variables with the prefix that are no setting and no typo: the engine host's hand-over
# (wagate/engines/whatsmeow/supervisor.py) and the test suite's own knobs.
_NOT_SETTINGS_PREFIXES = (
    "WAGATE_WHATSMEOW_HOST_CONFIG",
    "WAGATE_TEST_",
    "WAGATE_MCP_",  # `wagate mcp`'s node address and token (wagate/mcp_server/stdio.py)
    "WAGATE_HANG_DUMP_",
    "WAGATE_FUZZ_",
    "WAGATE_FAULT_",
)


def unknown_environment_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """Names of WAGATE_* environment variables that are no setting (a misspelt one, mostly)."""
    environ = os.environ if environ is None else environ
    known = {f"WAGATE_{name}".upper() for name in Settings.model_fields}
    return sorted(
        name
        for name in environ
        if name.upper().startswith("WAGATE_")
        and name.upper() not in known
        and not name.upper().startswith(_NOT_SETTINGS_PREFIXES)
    )
