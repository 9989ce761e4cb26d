"""Request and response bodies of the instance routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator

from wagate import proxies
from wagate.repository.instances import NAME_PATTERN

EventName = Literal[
    "connection_update",
    "qr_updated",
    "message_received",
    "message_ack",
    "message_status",
    "message_edited",
    "message_revoked",
    "message_reaction",
    "poll_vote",
    "presence",
    "call",
    "contact_update",
    "blocklist_update",
    "group_update",
    "group_participants",
    "history_sync",
    "send_paused",
]
HistorySync = Literal["off", "recent", "full"]
HISTORY_SYNC_HELP = (
    "What of the history WhatsApp sends after linking is imported into the history: off "
    "(none), recent (the last history_sync_days days) or full."
)
EngineName = Literal["whatsmeow", "simulator"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


PROXY_HELP = (
    "The instance's proxy: an http://, https:// or socks5:// URL, optionally with a user name "
    "and password (`socks5://user:password@proxy.example.com:1080`). The whatsmeow engine "
    "connects to WhatsApp through it, and URL media and link previews of the instance's sends "
    "are fetched through it. Stored encrypted; answers show only its scheme, host and port. "
    "An empty string removes it."
)


class InstanceSettings(Strict):
    """The settings as stored (the instance row's `settings`)."""

    send_interval_ms: int = Field(0, ge=0, le=3_600_000)
    send_jitter_ms: int = Field(0, ge=0, le=3_600_000)
    max_attempts: int = Field(3, ge=1, le=50)
    reject_calls: bool = False
    # How long the history keeps messages; 0 keeps none beyond wagate's own sends.
    history_retention_days: int = Field(90, ge=0, le=36_500)
    history_sync: HistorySync = "recent"
    history_sync_days: int = Field(30, ge=1, le=36_500)
    always_online: bool = False
    # proxies.stored(): the shown part in the clear, the whole URL encrypted.
    proxy: dict[str, Any] | None = None


class ProxyOut(BaseModel):
    scheme: str
    host: str
    port: int
    credentials_set: bool


class SettingsOut(BaseModel):
    send_interval_ms: int
    send_jitter_ms: int
    max_attempts: int
    reject_calls: bool
    always_online: bool
    history_retention_days: int
    history_sync: HistorySync = Field(description=HISTORY_SYNC_HELP)
    history_sync_days: int
    proxy: ProxyOut | None = Field(None, description="Scheme, host and port of the proxy.")


class InstanceSettingsPatch(Strict):
    send_interval_ms: int | None = Field(None, ge=0, le=3_600_000)
    send_jitter_ms: int | None = Field(None, ge=0, le=3_600_000)
    max_attempts: int | None = Field(None, ge=1, le=50)
    reject_calls: bool | None = Field(None, description="Reject every incoming call.")
    always_online: bool | None = Field(
        None, description="Show the account as online: available presence on every connect."
    )
    proxy: str | None = Field(
        None, description=PROXY_HELP, examples=["socks5://user:password@proxy.example.com:1080"]
    )

    @field_validator("proxy")
    @classmethod
    def _proxy(cls, value: str | None) -> str | None:
        if value:
            try:
                proxies.parse(value)
            except proxies.BadProxy as exc:
                raise ValueError(str(exc)) from None  # never the URL: it may hold a password
        return value

    history_retention_days: int | None = Field(None, ge=0, le=36_500)
    history_sync: HistorySync | None = Field(None, description=HISTORY_SYNC_HELP)
    history_sync_days: int | None = Field(
        None, ge=1, le=36_500, description="how far back `recent` imports (default 30)"
    )


class WebhookIn(Strict):
    url: HttpUrl
    events: list[EventName] | None = Field(None, min_length=1)
    secret: str | None = Field(None, min_length=1, max_length=256)


class WebhookOut(BaseModel):
    url: str
    events: list[str] | None
    secret_set: bool


class CreateInstance(Strict):
    name: str = Field(pattern=NAME_PATTERN)
    engine: EngineName | None = None
    webhook: WebhookIn | None = None
    settings: InstanceSettingsPatch | None = None


class PatchInstance(Strict):
    settings: InstanceSettingsPatch


class InstanceOut(BaseModel):
    name: str
    engine: str
    status: str
    jid: str | None
    phone: str | None
    last_error: str | None
    connected_at: datetime | None
    last_event_at: datetime | None
    node: str | None
    settings: SettingsOut
    webhook: WebhookOut | None
    created_at: datetime


class CreatedInstance(InstanceOut):
    token: str


class InstanceList(BaseModel):
    instances: list[InstanceOut]
    next_cursor: str | None = Field(description="give it as `cursor` for the next page")


class StatusOut(BaseModel):
    status: str


class QrOut(BaseModel):
    code: str
    image: str
    expires_at: datetime


class PairIn(Strict):
    phone: str = Field(min_length=1, max_length=32)


class PairOut(BaseModel):
    code: str


class TokenOut(BaseModel):
    token: str


def webhook_out(webhook: dict[str, Any] | None) -> WebhookOut | None:
    if not webhook or not webhook.get("url"):
        return None
    return WebhookOut(
        url=webhook["url"], events=webhook.get("events"), secret_set=bool(webhook.get("secret"))
    )
