"""Request and response bodies of the instance routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl

from wagate.instance_rows import NAME_PATTERN

EventName = Literal[
    "connection_update",
    "qr_updated",
    "message_received",
    "message_ack",
    "message_status",
    "group_update",
    "group_participants",
]
EngineName = Literal["whatsmeow", "simulator"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class InstanceSettings(Strict):
    send_interval_ms: int = Field(0, ge=0, le=3_600_000)
    send_jitter_ms: int = Field(0, ge=0, le=3_600_000)
    max_attempts: int = Field(3, ge=1, le=50)
    reject_calls: bool = False


class InstanceSettingsPatch(Strict):
    send_interval_ms: int | None = Field(None, ge=0, le=3_600_000)
    send_jitter_ms: int | None = Field(None, ge=0, le=3_600_000)
    max_attempts: int | None = Field(None, ge=1, le=50)
    reject_calls: bool | None = None


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
    settings: InstanceSettings
    webhook: WebhookOut | None
    created_at: datetime


class CreatedInstance(InstanceOut):
    token: str


class InstanceList(BaseModel):
    instances: list[InstanceOut]


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
