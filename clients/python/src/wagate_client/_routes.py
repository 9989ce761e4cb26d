"""The one description of the API's routes, shared by the sync and the async client.

Each function here turns a method's arguments into a `Call`: the HTTP request to make and how
to read its answer. The clients only carry Calls over HTTP (`WagateClient._run`,
`AsyncWagateClient._run`), so a route's path, body and result type are written once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar
from urllib.parse import quote

from wagate_client._json import boolean, obj, obj_list, opt_str, str_list, string
from wagate_client.models import (
    ActionResult,
    BatchItem,
    Chat,
    ChatPage,
    Cluster,
    Contact,
    ContactCheck,
    ContactPage,
    CreatedInstance,
    DeadLetterPage,
    Delivery,
    DeliveryPage,
    Faults,
    Group,
    GroupPage,
    HistoryPage,
    Instance,
    InstancePage,
    InviteLink,
    JoinRequest,
    LidMapping,
    Media,
    MessagePage,
    MessageRecord,
    OutboxMessage,
    ParticipantResult,
    Profile,
    ProfilePicture,
    QrCode,
    Readiness,
    RetriedAll,
    SearchPage,
    SendResult,
    SimulatedPresence,
    SinkFilter,
    SinkStatus,
    Status,
    StoredMessage,
    Webhook,
)

T = TypeVar("T")
# The broker transports an instance may filter its events for (PUT …/sinks/{sink}).
SinkName = Literal["amqp", "nats"]
SendKind = Literal[
    "text", "image", "video", "audio", "document", "sticker", "location", "contact", "reaction",
    "poll",
]  # fmt: skip
PresenceState = Literal["composing", "recording", "paused"]
InstanceStatusName = Literal[
    "disconnected", "connecting", "pairing", "connected", "reconnecting", "logged_out"
]
MessageStatusName = Literal[
    "queued", "sending", "sent", "delivered", "read", "failed", "cancelled"
]  # fmt: skip
DeliveryStatusName = Literal["pending", "delivered", "failed"]
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
ParticipantAction = Literal["add", "remove", "promote", "demote"]
RequestAnswer = Literal["approve", "reject"]
AccountPresence = Literal["available", "unavailable"]
# Who a deletion is for: the whole chat (a revoke) or this device only.
RevokeFor = Literal["everyone", "me"]
# How long a pin lasts: 24 hours, 7 days or 30 days.
PinDuration = Literal[86400, 604800, 2592000]
BlockAction = Literal["block", "unblock"]


@dataclass(frozen=True)
class Reply:
    """An HTTP answer, as the parsers see it."""

    status: int
    headers: Mapping[str, str]
    content: bytes

    def json(self) -> dict[str, Any]:
        return obj(json.loads(self.content)) if self.content else {}


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    parse: Callable[[Reply], T]
    params: dict[str, str] = field(default_factory=dict)
    json: Any = None
    form: dict[str, str | list[str]] | None = None
    file: tuple[str, bytes, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # Statuses that are an answer rather than an error (readiness answers 503 when not ready).
    ok_statuses: frozenset[int] = frozenset()


def seg(value: str) -> str:
    """A path segment: a name, a JID or an id never changes the route it is put in."""
    return quote(value, safe="@:+")


def _inst(instance: str) -> str:
    return f"/v1/instances/{seg(instance)}"


def _none(_: Reply) -> None:
    return None


def _model(build: Callable[[dict[str, Any]], T]) -> Callable[[Reply], T]:
    return lambda reply: build(reply.json())


def _items(key: str, build: Callable[[dict[str, Any]], T]) -> Callable[[Reply], list[T]]:
    return lambda reply: [build(item) for item in obj_list(reply.json(), key)]


def _drop_none(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _params(values: Mapping[str, Any]) -> dict[str, str]:
    return {key: str(value) for key, value in _drop_none(values).items()}


# --- media ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class MediaInput:
    """Media to send: a URL the gateway fetches, base64 in the JSON body, or raw bytes sent
    as a multipart upload (no base64 inflation). Make one with `from_url`, `from_base64`
    or `from_bytes`; plain `bytes` given to a send method means `from_bytes(data)`."""

    url: str | None = None
    base64: str | None = None
    data: bytes | None = None
    mimetype: str | None = None
    filename: str | None = None

    @classmethod
    def from_url(cls, url: str) -> MediaInput:
        return cls(url=url)

    @classmethod
    def from_base64(cls, data: str, mimetype: str | None = None) -> MediaInput:
        return cls(base64=data, mimetype=mimetype)

    @classmethod
    def from_bytes(
        cls, data: bytes, mimetype: str | None = None, filename: str | None = None
    ) -> MediaInput:
        return cls(data=data, mimetype=mimetype, filename=filename)


MediaLike = MediaInput | bytes


def _form_value(value: Any) -> str | list[str]:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return [str(item) for item in value]
    return str(value)


# --- sends ---------------------------------------------------------------------------------


def _send_result(reply: Reply) -> SendResult:
    return SendResult.from_json(reply.json(), reply.headers.get("location"))


def send(
    instance: str,
    kind: str,
    body: Mapping[str, Any],
    *,
    media: MediaLike | None = None,
    async_: bool = False,
    idempotency_key: str | None = None,
) -> Call[SendResult]:
    """Any send kind; `body` holds the kind's fields besides `media` (None values dropped)."""
    fields = _drop_none(body)
    headers = {"Idempotency-Key": idempotency_key} if idempotency_key is not None else {}
    params = {"async": "true"} if async_ else {}
    path = f"{_inst(instance)}/send/{seg(kind)}"
    if isinstance(media, bytes):
        media = MediaInput.from_bytes(media)
    if media is not None and media.data is not None:
        form = {key: _form_value(value) for key, value in fields.items()}
        upload = (
            media.filename or "file",
            media.data,
            media.mimetype or "application/octet-stream",
        )
        return Call("POST", path, _send_result, params, form=form, file=upload, headers=headers)
    if media is not None:
        fields["media"] = _drop_none(
            {"url": media.url, "base64": media.base64, "mimetype": media.mimetype}
        )
    return Call("POST", path, _send_result, params, json=fields, headers=headers)


def send_batch(instance: str, messages: Sequence[Mapping[str, Any]]) -> Call[list[BatchItem]]:
    # A batch is always queued: its answer comes at once, one result per item, in order.
    return Call(
        "POST",
        f"{_inst(instance)}/send/batch",
        _items("results", BatchItem.from_json),
        {"async": "true"},
        json={"messages": [dict(message) for message in messages]},
    )


# --- instances -----------------------------------------------------------------------------


def create_instance(
    name: str,
    engine: str | None,
    webhook: Mapping[str, Any] | None,
    settings: Mapping[str, Any] | None,
) -> Call[CreatedInstance]:
    body = _drop_none({"name": name, "engine": engine, "webhook": webhook, "settings": settings})
    return Call("POST", "/v1/instances", _model(CreatedInstance.from_json), json=body)


def list_instances(status: str | None, limit: int | None, cursor: str | None) -> Call[InstancePage]:
    params = _params({"status": status, "limit": limit, "cursor": cursor})
    return Call("GET", "/v1/instances", _model(InstancePage.from_json), params)


def get_instance(instance: str) -> Call[Instance]:
    return Call("GET", _inst(instance), _model(Instance.from_json))


def patch_instance(instance: str, settings: Mapping[str, Any]) -> Call[Instance]:
    return Call(
        "PATCH", _inst(instance), _model(Instance.from_json), json={"settings": dict(settings)}
    )


def delete_instance(instance: str) -> Call[None]:
    return Call("DELETE", _inst(instance), _none)


def rotate_token(instance: str) -> Call[str]:
    return Call("POST", f"{_inst(instance)}/token", lambda reply: string(reply.json(), "token"))


def lifecycle(instance: str, action: str) -> Call[Status]:
    return Call("POST", f"{_inst(instance)}/{action}", _model(Status.from_json))


def get_qr(instance: str) -> Call[QrCode]:
    return Call(
        "GET",
        f"{_inst(instance)}/qr",
        _model(QrCode.from_json),
        headers={"Accept": "application/json"},
    )


def get_qr_png(instance: str) -> Call[bytes]:
    return Call(
        "GET", f"{_inst(instance)}/qr", lambda reply: reply.content, headers={"Accept": "image/png"}
    )


def pair(instance: str, phone: str) -> Call[str]:
    return Call(
        "POST",
        f"{_inst(instance)}/pair",
        lambda reply: string(reply.json(), "code"),
        json={"phone": phone},
    )


def events_path(instance: str) -> str:
    return f"{_inst(instance)}/events"


# --- message records and dead letters ------------------------------------------------------


def get_message(instance: str, correlation_id: str) -> Call[MessageRecord]:
    return Call(
        "GET",
        f"{_inst(instance)}/messages/{seg(correlation_id)}",
        _model(MessageRecord.from_json),
    )


def list_messages(
    instance: str, status: str | None, limit: int | None, cursor: str | None
) -> Call[MessagePage]:
    params = _drop_none({"status": status, "limit": limit, "cursor": cursor})
    return Call(
        "GET",
        f"{_inst(instance)}/messages",
        _model(MessagePage.from_json),
        {key: str(value) for key, value in params.items()},
    )


def list_dead_letters(
    instance: str | None, limit: int | None = None, cursor: str | None = None
) -> Call[DeadLetterPage]:
    params = _drop_none({"instance": instance, "limit": limit, "cursor": cursor})
    return Call(
        "GET",
        "/v1/dead-letters",
        _model(DeadLetterPage.from_json),
        {key: str(value) for key, value in params.items()},
    )


def retry_all_dead_letters(instance: str | None) -> Call[RetriedAll]:
    params = {"instance": instance} if instance is not None else {}
    return Call("POST", "/v1/dead-letters/retry", _model(RetriedAll.from_json), params)


def retry_dead_letter(correlation_id: str) -> Call[SendResult]:
    return Call("POST", f"/v1/dead-letters/{seg(correlation_id)}/retry", _send_result)


def delete_dead_letter(correlation_id: str) -> Call[None]:
    return Call("DELETE", f"/v1/dead-letters/{seg(correlation_id)}", _none)


# --- after the send ------------------------------------------------------------------------


def edit_message(instance: str, correlation_id: str, text: str) -> Call[MessageRecord]:
    path = f"{_inst(instance)}/messages/{seg(correlation_id)}"
    return Call("PATCH", path, _model(MessageRecord.from_json), json={"text": text})


def revoke_message(instance: str, correlation_id: str, for_: str) -> Call[MessageRecord]:
    path = f"{_inst(instance)}/messages/{seg(correlation_id)}"
    return Call("DELETE", path, _model(MessageRecord.from_json), {"for": for_})


def _chat_message(instance: str, chat: str, message_id: str, action: str) -> str:
    return f"{_inst(instance)}/chats/{seg(chat)}/messages/{seg(message_id)}/{action}"


_action = _model(ActionResult.from_json)


def forward_message(instance: str, chat: str, message_id: str, to: str) -> Call[ActionResult]:
    path = _chat_message(instance, chat, message_id, "forward")
    return Call("POST", path, _action, json={"to": to})


def react_to_message(
    instance: str, chat: str, message_id: str, emoji: str, sender: str | None
) -> Call[ActionResult]:
    path = _chat_message(instance, chat, message_id, "react")
    return Call("POST", path, _action, json=_drop_none({"emoji": emoji, "sender": sender}))


def read_message(instance: str, chat: str, message_id: str, sender: str | None) -> Call[None]:
    path = _chat_message(instance, chat, message_id, "read")
    return Call("POST", path, _none, json=_drop_none({"sender": sender}))


def pin_message(
    instance: str, chat: str, message_id: str, pin: bool, duration_s: int | None,
    sender: str | None,
) -> Call[ActionResult]:  # fmt: skip
    path = _chat_message(instance, chat, message_id, "pin")
    body = _drop_none({"pin": pin, "duration_s": duration_s, "sender": sender})
    return Call("POST", path, _action, json=body)


def vote_in_poll(
    instance: str, chat: str, message_id: str, options: Sequence[str], sender: str | None
) -> Call[ActionResult]:
    path = _chat_message(instance, chat, message_id, "vote")
    return Call(
        "POST", path, _action, json=_drop_none({"options": list(options), "sender": sender})
    )


def vote_own_poll(instance: str, correlation_id: str, options: Sequence[str]) -> Call[ActionResult]:
    path = f"{_inst(instance)}/polls/{seg(correlation_id)}/vote"
    return Call("POST", path, _action, json={"options": list(options)})


# --- contacts, chats, media ----------------------------------------------------------------


def check_contacts(instance: str, phones: Sequence[str]) -> Call[list[ContactCheck]]:
    return Call(
        "POST",
        f"{_inst(instance)}/contacts/check",
        _items("results", ContactCheck.from_json),
        json={"phones": list(phones)},
    )


def mark_read(
    instance: str, chat: str, message_ids: Sequence[str], sender: str | None
) -> Call[None]:
    body = _drop_none({"message_ids": list(message_ids), "sender": sender})
    return Call("POST", f"{_inst(instance)}/chats/{seg(chat)}/read", _none, json=body)


def send_presence(instance: str, chat: str, state: str) -> Call[None]:
    return Call(
        "POST", f"{_inst(instance)}/chats/{seg(chat)}/presence", _none, json={"state": state}
    )


def _media(reply: Reply) -> Media:
    filename = None
    disposition = reply.headers.get("content-disposition", "")
    if 'filename="' in disposition:
        filename = disposition.split('filename="', 1)[1].split('"', 1)[0]
    return Media(
        content=reply.content,
        content_type=reply.headers.get("content-type", "application/octet-stream"),
        filename=filename,
    )


def download_media(instance: str, message_id: str) -> Call[Media]:
    return Call("GET", f"{_inst(instance)}/media/{seg(message_id)}", _media)


# --- chats and history ---------------------------------------------------------------------


def list_chats(instance: str, limit: int | None, before: str | None) -> Call[ChatPage]:
    params = _params({"limit": limit, "before": before})
    return Call("GET", f"{_inst(instance)}/chats", _model(ChatPage.from_json), params)


def get_chat(instance: str, chat: str) -> Call[Chat]:
    return Call("GET", f"{_inst(instance)}/chats/{seg(chat)}", _model(Chat.from_json))


def chat_messages(instance: str, chat: str, filters: Mapping[str, Any]) -> Call[HistoryPage]:
    return Call(
        "GET",
        f"{_inst(instance)}/chats/{seg(chat)}/messages",
        _model(HistoryPage.from_json),
        _params(filters),
    )


def chat_message(instance: str, chat: str, message_id: str) -> Call[StoredMessage]:
    return Call(
        "GET",
        f"{_inst(instance)}/chats/{seg(chat)}/messages/{seg(message_id)}",
        _model(StoredMessage.from_json),
    )


def search_messages(
    instance: str, q: str, chat: str | None, limit: int | None, before: str | None
) -> Call[SearchPage]:
    params = _params({"q": q, "chat": chat, "limit": limit, "before": before})
    return Call("GET", f"{_inst(instance)}/messages/search", _model(SearchPage.from_json), params)


def list_contacts(instance: str, limit: int | None, after: str | None) -> Call[ContactPage]:
    params = _params({"limit": limit, "after": after})
    return Call("GET", f"{_inst(instance)}/contacts", _model(ContactPage.from_json), params)


# --- webhooks ------------------------------------------------------------------------------


def put_webhook(
    instance: str, url: str, events: Sequence[str] | None, secret: str | None
) -> Call[Webhook]:
    body = _drop_none(
        {"url": url, "events": list(events) if events is not None else None, "secret": secret}
    )
    return Call("PUT", f"{_inst(instance)}/webhook", _model(Webhook.from_json), json=body)


def get_webhook(instance: str) -> Call[Webhook]:
    return Call("GET", f"{_inst(instance)}/webhook", _model(Webhook.from_json))


def delete_webhook(instance: str) -> Call[None]:
    return Call("DELETE", f"{_inst(instance)}/webhook", _none)


def list_deliveries(
    instance: str, status: str | None, limit: int | None, cursor: str | None
) -> Call[DeliveryPage]:
    params = _drop_none({"status": status, "limit": limit, "cursor": cursor})
    return Call(
        "GET",
        f"{_inst(instance)}/webhook/deliveries",
        _model(DeliveryPage.from_json),
        {key: str(value) for key, value in params.items()},
    )


def get_delivery(instance: str, delivery_id: str) -> Call[Delivery]:
    return Call(
        "GET",
        f"{_inst(instance)}/webhook/deliveries/{seg(delivery_id)}",
        _model(Delivery.from_json),
    )


def redeliver(instance: str, delivery_id: str) -> Call[Delivery]:
    return Call(
        "POST",
        f"{_inst(instance)}/webhook/deliveries/{seg(delivery_id)}/redeliver",
        _model(Delivery.from_json),
    )


# --- simulator -----------------------------------------------------------------------------


def simulator_scan(instance: str, phone: str | None) -> Call[None]:
    return Call(
        "POST", f"{_inst(instance)}/simulator/scan", _none, json=_drop_none({"phone": phone})
    )


def simulator_inbound(instance: str, body: Mapping[str, Any]) -> Call[str]:
    return Call(
        "POST",
        f"{_inst(instance)}/simulator/inbound",
        lambda reply: string(reply.json(), "message_id"),
        json=_drop_none(body),
    )


def simulator_faults(instance: str, body: Mapping[str, Any]) -> Call[Faults]:
    return Call(
        "POST",
        f"{_inst(instance)}/simulator/faults",
        _model(Faults.from_json),
        json=_drop_none(body),
    )


def simulator_history(
    instance: str, chats: int | None, messages: int | None, days: int | None
) -> Call[list[str]]:
    return Call(
        "POST",
        f"{_inst(instance)}/simulator/history",
        lambda reply: str_list(reply.json(), "message_ids"),
        json=_drop_none({"chats": chats, "messages": messages, "days": days}),
    )


def simulator_outbox(instance: str) -> Call[list[OutboxMessage]]:
    return Call(
        "GET",
        f"{_inst(instance)}/simulator/outbox",
        _items("messages", OutboxMessage.from_json),
    )


def simulator_edit(instance: str, body: Mapping[str, Any]) -> Call[None]:
    return Call("POST", f"{_inst(instance)}/simulator/edit", _none, json=_drop_none(body))


def simulator_revoke(instance: str, body: Mapping[str, Any]) -> Call[None]:
    return Call("POST", f"{_inst(instance)}/simulator/revoke", _none, json=_drop_none(body))


def simulator_vote(instance: str, body: Mapping[str, Any]) -> Call[None]:
    return Call("POST", f"{_inst(instance)}/simulator/vote", _none, json=_drop_none(body))


def simulator_presence_sent(instance: str) -> Call[SimulatedPresence]:
    path = f"{_inst(instance)}/simulator/presence"
    return Call("GET", path, _model(SimulatedPresence.from_json))


# --- the account ---------------------------------------------------------------------------


def get_contact(instance: str, contact: str) -> Call[Contact]:
    return Call("GET", f"{_inst(instance)}/contacts/{seg(contact)}", _model(Contact.from_json))


def get_contact_picture(instance: str, contact: str) -> Call[ProfilePicture]:
    path = f"{_inst(instance)}/contacts/{seg(contact)}/picture"
    return Call("GET", path, _model(ProfilePicture.from_json))


def get_contact_lid(instance: str, contact: str) -> Call[LidMapping]:
    path = f"{_inst(instance)}/contacts/{seg(contact)}/lid"
    return Call("GET", path, _model(LidMapping.from_json))


def get_lid(instance: str, lid: str) -> Call[LidMapping]:
    return Call("GET", f"{_inst(instance)}/lids/{seg(lid)}", _model(LidMapping.from_json))


def _contacts(reply: Reply) -> list[str]:
    return str_list(reply.json(), "contacts")


def get_blocklist(instance: str) -> Call[list[str]]:
    return Call("GET", f"{_inst(instance)}/blocklist", _contacts)


def update_blocklist(instance: str, action: str, contact: str) -> Call[list[str]]:
    body = {"action": action, "contact": contact}
    return Call("POST", f"{_inst(instance)}/blocklist", _contacts, json=body)


def get_profile(instance: str) -> Call[Profile]:
    return Call("GET", f"{_inst(instance)}/profile", _model(Profile.from_json))


def update_profile(instance: str, name: str | None, about: str | None) -> Call[Profile]:
    body = _drop_none({"name": name, "about": about})
    return Call("PATCH", f"{_inst(instance)}/profile", _model(Profile.from_json), json=body)


def set_profile_picture(instance: str, media: Mapping[str, Any]) -> Call[Profile]:
    path = f"{_inst(instance)}/profile/picture"
    body = {"media": _drop_none(media)}
    return Call("PUT", path, _model(Profile.from_json), json=body)


def remove_profile_picture(instance: str) -> Call[Profile]:
    path = f"{_inst(instance)}/profile/picture"
    return Call("DELETE", path, _model(Profile.from_json))


def _settings(reply: Reply) -> dict[str, str]:
    return {str(k): str(v) for k, v in reply.json().items()}


def get_privacy(instance: str) -> Call[dict[str, str]]:
    return Call("GET", f"{_inst(instance)}/privacy", _settings)


def update_privacy(instance: str, settings: Mapping[str, str]) -> Call[dict[str, str]]:
    return Call("PATCH", f"{_inst(instance)}/privacy", _settings, json=dict(settings))


def set_account_presence(instance: str, state: str) -> Call[None]:
    return Call("POST", f"{_inst(instance)}/presence", _none, json={"state": state})


def subscribe_presence(instance: str, chat: str) -> Call[None]:
    return Call("POST", f"{_inst(instance)}/chats/{seg(chat)}/presence/subscribe", _none)


def update_chat(instance: str, chat: str, changes: Mapping[str, Any]) -> Call[None]:
    # Only the keys given: `muted_until: None` unmutes, so None is sent as it is.
    return Call("PATCH", f"{_inst(instance)}/chats/{seg(chat)}", _none, json=dict(changes))


def reject_call(instance: str, call_id: str) -> Call[None]:
    return Call("POST", f"{_inst(instance)}/calls/{seg(call_id)}/reject", _none)


def simulator_presence(instance: str, body: Mapping[str, Any]) -> Call[bool]:
    return Call(
        "POST",
        f"{_inst(instance)}/simulator/presence",
        lambda reply: boolean(reply.json(), "delivered"),
        json=_drop_none(body),
    )


def simulator_call(instance: str, body: Mapping[str, Any]) -> Call[str | None]:
    return Call(
        "POST",
        f"{_inst(instance)}/simulator/calls",
        lambda reply: opt_str(reply.json(), "call_id"),
        json=_drop_none(body),
    )


def simulator_call_ends(instance: str, call_id: str, status: str) -> Call[None]:
    path = f"{_inst(instance)}/simulator/calls/{seg(call_id)}"
    return Call("POST", path, _none, json={"status": status})


def simulator_contact(instance: str, contact: str, changes: Mapping[str, Any]) -> Call[None]:
    path = f"{_inst(instance)}/simulator/contacts/{seg(contact)}"
    return Call("PATCH", path, _none, json=dict(changes))


# --- cluster and health --------------------------------------------------------------------


def list_sinks() -> Call[list[SinkStatus]]:
    return Call(
        "GET",
        "/v1/sinks",
        lambda reply: [SinkStatus.from_json(item) for item in obj_list(obj(reply.json()), "sinks")],
    )


def get_sink_filter(instance: str, sink: SinkName) -> Call[SinkFilter]:
    return Call("GET", f"{_inst(instance)}/sinks/{sink}", _model(SinkFilter.from_json))


def put_sink_filter(instance: str, sink: SinkName, events: Sequence[str]) -> Call[SinkFilter]:
    return Call(
        "PUT",
        f"{_inst(instance)}/sinks/{sink}",
        _model(SinkFilter.from_json),
        json={"events": list(events)},
    )


def delete_sink_filter(instance: str, sink: SinkName) -> Call[None]:
    return Call("DELETE", f"{_inst(instance)}/sinks/{sink}", _none)


def get_cluster() -> Call[Cluster]:
    return Call("GET", "/v1/cluster", _model(Cluster.from_json))


def node_info() -> Call[dict[str, str]]:
    return Call("GET", "/", lambda reply: {str(k): str(v) for k, v in reply.json().items()})


def health() -> Call[bool]:
    return Call("GET", "/healthz", lambda reply: reply.json().get("status") == "ok")


def readiness() -> Call[Readiness]:
    return Call(
        "GET",
        "/readyz",
        lambda reply: Readiness.from_json(reply.json(), reply.status == 200),
        ok_statuses=frozenset({503}),
    )


def metrics() -> Call[str]:
    return Call("GET", "/metrics", lambda reply: reply.content.decode("utf-8", "replace"))


# --- the kinds' bodies ---------------------------------------------------------------------
# One builder per kind, so that both clients' typed send methods only forward their arguments.


def send_text(
    instance: str, to: str, text: str, link_preview: bool | None, common: SendOptions
) -> Call[SendResult]:
    return common.call(instance, "text", {"to": to, "text": text, "link_preview": link_preview})


def send_media(
    instance: str, kind: str, to: str, media: MediaLike, fields: Mapping[str, Any],
    common: SendOptions,
) -> Call[SendResult]:  # fmt: skip
    return common.call(instance, kind, {"to": to, **fields}, media)


def send_location(
    instance: str,
    to: str,
    latitude: float,
    longitude: float,
    name: str | None,
    address: str | None,
    common: SendOptions,
) -> Call[SendResult]:
    body = {"to": to, "latitude": latitude, "longitude": longitude, "name": name}
    return common.call(instance, "location", {**body, "address": address})


def send_contact(
    instance: str, to: str, contacts: Sequence[Mapping[str, Any]], common: SendOptions
) -> Call[SendResult]:
    cards = [_drop_none(card) for card in contacts]
    return common.call(instance, "contact", {"to": to, "contacts": cards})


def send_reaction(
    instance: str, to: str, message_id: str, emoji: str, common: SendOptions
) -> Call[SendResult]:
    return common.call(instance, "reaction", {"to": to, "message_id": message_id, "emoji": emoji})


def send_poll(
    instance: str,
    to: str,
    question: str,
    options: Sequence[str],
    selectable_count: int | None,
    common: SendOptions,
) -> Call[SendResult]:
    body = {"to": to, "question": question, "options": list(options)}
    return common.call(instance, "poll", {**body, "selectable_count": selectable_count})


@dataclass(frozen=True)
class SendOptions:
    """What every send kind takes besides its own fields."""

    reply_to: str | None = None
    mentions: Sequence[str] | None = None
    async_: bool = False
    idempotency_key: str | None = None

    def call(
        self, instance: str, kind: str, body: Mapping[str, Any], media: MediaLike | None = None
    ) -> Call[SendResult]:
        mentions = list(self.mentions) if self.mentions is not None else None
        return send(
            instance,
            kind,
            {**body, "reply_to": self.reply_to, "mentions": mentions},
            media=media,
            async_=self.async_,
            idempotency_key=self.idempotency_key,
        )


def simulator_faults_body(
    send_latency_ms: int | None,
    fail_next: int | None,
    fail_kind: str | None,
    disconnect: bool,
    logout: bool,
) -> dict[str, Any]:
    return {
        "send_latency_ms": send_latency_ms,
        "fail_next": fail_next,
        "fail_kind": fail_kind,
        "disconnect": disconnect or None,
        "logout": logout or None,
    }


def _groups(instance: str) -> str:
    return f"{_inst(instance)}/groups"


def create_group(
    instance: str, subject: str, participants: Sequence[str], description: str | None
) -> Call[Group]:
    body = _drop_none(
        {"subject": subject, "participants": list(participants), "description": description}
    )
    return Call("POST", _groups(instance), _model(Group.from_json), json=body)


def list_groups(instance: str, limit: int | None, cursor: str | None) -> Call[GroupPage]:
    params = _drop_none({"limit": limit, "cursor": cursor})
    return Call(
        "GET",
        _groups(instance),
        _model(GroupPage.from_json),
        {key: str(value) for key, value in params.items()},
    )


def get_group(instance: str, group: str) -> Call[Group]:
    return Call("GET", f"{_groups(instance)}/{seg(group)}", _model(Group.from_json))


def update_group(instance: str, group: str, changes: Mapping[str, Any]) -> Call[Group]:
    return Call(
        "PATCH", f"{_groups(instance)}/{seg(group)}", _model(Group.from_json), json=dict(changes)
    )


def set_group_picture(instance: str, group: str, picture: MediaLike) -> Call[None]:
    path = f"{_groups(instance)}/{seg(group)}/picture"
    if isinstance(picture, bytes):
        picture = MediaInput.from_bytes(picture)
    if picture.data is not None:
        upload = (picture.filename or "picture", picture.data, picture.mimetype or "image/jpeg")
        return Call("PUT", path, _none, form={}, file=upload)
    body = _drop_none({"url": picture.url, "base64": picture.base64, "mimetype": picture.mimetype})
    return Call("PUT", path, _none, json=body)


def remove_group_picture(instance: str, group: str) -> Call[None]:
    return Call("DELETE", f"{_groups(instance)}/{seg(group)}/picture", _none)


def update_participants(
    instance: str, group: str, action: str, participants: Sequence[str]
) -> Call[list[ParticipantResult]]:
    return Call(
        "POST",
        f"{_groups(instance)}/{seg(group)}/participants",
        _items("results", ParticipantResult.from_json),
        json={"action": action, "participants": list(participants)},
    )


def join_requests(instance: str, group: str) -> Call[list[JoinRequest]]:
    return Call(
        "GET",
        f"{_groups(instance)}/{seg(group)}/requests",
        _items("requests", JoinRequest.from_json),
    )


def answer_join_requests(
    instance: str, group: str, action: str, participants: Sequence[str]
) -> Call[list[ParticipantResult]]:
    return Call(
        "POST",
        f"{_groups(instance)}/{seg(group)}/requests",
        _items("results", ParticipantResult.from_json),
        json={"action": action, "participants": list(participants)},
    )


def group_invite(instance: str, group: str, revoke: bool) -> Call[InviteLink]:
    path = f"{_groups(instance)}/{seg(group)}/invite"
    if revoke:
        return Call("POST", f"{path}/revoke", _model(InviteLink.from_json))
    return Call("GET", path, _model(InviteLink.from_json))


def invite_info(instance: str, code: str) -> Call[Group]:
    return Call("GET", f"{_groups(instance)}/invites/{seg(code)}", _model(Group.from_json))


def join_group(instance: str, code: str) -> Call[str]:
    return Call(
        "POST",
        f"{_groups(instance)}/invites/{seg(code)}/join",
        lambda reply: string(reply.json(), "group"),
    )


def leave_group(instance: str, group: str) -> Call[None]:
    return Call("POST", f"{_groups(instance)}/{seg(group)}/leave", _none)


def simulator_group(instance: str, body: Mapping[str, Any]) -> Call[Group]:
    return Call(
        "POST", f"{_inst(instance)}/simulator/groups", _model(Group.from_json), json=dict(body)
    )


def simulator_group_participants(
    instance: str, group: str, body: Mapping[str, Any]
) -> Call[list[ParticipantResult]]:
    return Call(
        "POST",
        f"{_inst(instance)}/simulator/groups/{seg(group)}/participants",
        _items("results", ParticipantResult.from_json),
        json=_drop_none(body),
    )


def simulator_group_change(instance: str, group: str, body: Mapping[str, Any]) -> Call[Group]:
    return Call(
        "PATCH",
        f"{_inst(instance)}/simulator/groups/{seg(group)}",
        _model(Group.from_json),
        json=_drop_none(body),
    )


def simulator_group_message(instance: str, group: str, body: Mapping[str, Any]) -> Call[str]:
    return Call(
        "POST",
        f"{_inst(instance)}/simulator/groups/{seg(group)}/messages",
        lambda reply: string(reply.json(), "message_id"),
        json=dict(body),
    )


def simulator_group_join(instance: str, code: str, sender: str) -> Call[str]:
    return Call(
        "POST",
        f"{_inst(instance)}/simulator/groups/invites/{seg(code)}/join",
        lambda reply: string(reply.json(), "group"),
        json={"from": sender},
    )


def get_send_policy(instance: str) -> Call[dict[str, Any]]:
    return Call("GET", f"{_inst(instance)}/send-policy", _model(obj))


def update_send_policy(instance: str, changes: Mapping[str, Any]) -> Call[dict[str, Any]]:
    return Call("PATCH", f"{_inst(instance)}/send-policy", _model(obj), json=dict(changes))


def resume_sending(instance: str) -> Call[dict[str, Any]]:
    return Call("POST", f"{_inst(instance)}/send-policy/resume", _model(obj))
