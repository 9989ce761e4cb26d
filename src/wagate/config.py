"""Settings: every WAGATE_* environment variable (and a .env file in the working directory)."""

from __future__ import annotations

import os
import socket
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_node_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="WAGATE_", env_file=".env", extra="ignore", populate_by_name=True
    )

    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("./data")
    database_url: str | None = None
    redis_url: str | None = None
    admin_token: SecretStr | None = None
    engine: Literal["whatsmeow", "simulator"] = "whatsmeow"
    node_id: str = Field(default_factory=_default_node_id)
    role: Literal["all", "api"] = "all"
    sync_timeout_s: float = 30.0
    max_media_bytes: int = 64 * 1024 * 1024
    allow_private_media_urls: bool = False
    webhook_url: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_events: str | None = None
    webhook_timeout_s: float = 10.0
    webhook_max_attempts: int = 10
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: Literal["console", "json"] = "console"

    # Client manager: reconnect backoff after a dropped connection (bounded, with jitter).
    reconnect_base_delay_s: float = 1.0
    reconnect_max_delay_s: float = 60.0
    # Simulator timings (API.md: QR codes rotate every 20 s, 6 codes before qr_timeout).
    simulator_qr_interval_s: float = 20.0
    simulator_qr_count: int = 6
    simulator_pair_code_delay_s: float = 3.0
    simulator_receipt_delay_ms: int = 50
    # whatsmeow engine: clients run in engine-host subprocesses, at most this many per host.
    whatsmeow_instances_per_host: int = Field(default=50, ge=1)
    # Consecutive failed connects before an instance gives up (each connect leaks a handle).
    whatsmeow_connect_attempts: int = Field(default=5, ge=1)
    whatsmeow_call_timeout_s: float = 60.0
    whatsmeow_host_start_timeout_s: float = 30.0
    whatsmeow_host_restart_max_delay_s: float = 30.0
    # How long a stop waits for a client: a hanging dial ends by itself (~60 s) in the host.
    whatsmeow_stop_wait_s: float = 5.0
    # socks5:// or http:// proxy for the WhatsApp connection (and media), if any.
    whatsmeow_proxy: str | None = None
    # How long received media is kept.
    media_retention_s: int = 24 * 3600
    # How long the content (text, caption, payload) of a final outbound message is kept: the
    # message record stays, its content is blanked after this (wagate/messages/retention.py),
    # so a database leak or backup does not hold every message ever sent.
    message_body_retention_s: int = Field(30 * 24 * 3600, gt=0)
    # Request limits (SECURITY.md): body size, slow bodies, per-token rate (0 = off).
    max_request_bytes: int | None = None  # default: room for max_media_bytes as base64
    request_body_timeout_s: float = 30.0
    rate_limit_per_s: float = 50.0
    rate_limit_burst: int = 200
    rate_limit_admin: bool = False
    # Connection limits handed to uvicorn (`wagate serve`): idle keep-alive connections are
    # closed after this many seconds; over `http_limit_concurrency` open connections and
    # requests new ones get 503; request heads are capped at `http_max_header_bytes` (431).
    http_keepalive_timeout_s: int = 5
    http_limit_concurrency: int | None = None
    http_max_header_bytes: int = 64 * 1024
    # A request head (request line + headers) not complete this long after the connection
    # opened or the request began: the connection is closed (slowloris).
    http_header_timeout_s: float = Field(10.0, gt=0)
    # Seconds between SSE keep-alive comments.
    sse_keepalive_s: float = 15.0
    # A live event stream is ended after this many seconds (the client reconnects, with its
    # token checked again): it bounds how long a stream outlives its token when the order to
    # end it (token rotation, logout, deletion) did not reach this node.
    sse_max_lifetime_s: float = Field(3600.0, gt=0)
    # Live event streams one token may hold open on one node: each holds a connection and a
    # buffer of up to 1000 events, so a leaked or hostile token cannot pile them up.
    sse_max_streams_per_token: int = Field(10, ge=1)
    # Messaging: queue keys, retries, reconciler, media downloads, idempotency.
    queue_key_prefix: str = "wagate:"
    queue_claim_idle_ms: int = 30_000
    send_retry_base_s: float = 1.0
    send_retry_max_s: float = 60.0
    reconcile_interval_s: float = 10.0
    reconcile_grace_s: float = 5.0
    sync_poll_interval_s: float = 0.25
    # How long another node may still accept a token or instance this node changed (this
    # node forgets at once): see wagate/instances/cache.py. 0 turns the cache off.
    instance_cache_ttl_s: float = 2.0
    media_download_timeout_s: float = 30.0
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
    # Cluster (with WAGATE_REDIS_URL): instance leases, node heartbeats, forwarding.
    cluster_key_prefix: str = "wagate:cluster:"
    lease_ttl_s: float = 15.0
    lease_renew_interval_s: float = 5.0
    heartbeat_interval_s: float = 5.0
    placement_interval_s: float = 2.0
    internal_url: str | None = None  # how other nodes reach this one; default http://host:port
    forward_timeout_s: float = 30.0

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
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @property
    def webhook_event_filter(self) -> list[str] | None:
        if not self.webhook_events:
            return None
        return [e.strip() for e in self.webhook_events.split(",") if e.strip()]
