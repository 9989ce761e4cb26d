"""Instance operations behind the routes: creation, settings, tokens, lifecycle, deletion."""

from __future__ import annotations

import base64
import io
from datetime import datetime
from typing import Any, Protocol, TypeVar

import segno
from sqlalchemy.exc import IntegrityError
from starlette.types import Scope

from wagate import netguard, proxies
from wagate.auth.tokens import INSTANCE_PREFIX, hash_token, new_token
from wagate.config import Settings
from wagate.db import utcnow
from wagate.engines.actions import Action
from wagate.engines.base import NotConnectedError
from wagate.engines.status import Status
from wagate.errors import (
    Conflict,
    NotFound,
    NotPairing,
    ValidationFailed,
)
from wagate.holder import require_holder_route
from wagate.instances import repository
from wagate.instances.schemas import (
    CreateInstance,
    InstanceOut,
    InstanceSettings,
    InstanceSettingsPatch,
    ProxyOut,
    QrOut,
    SettingsOut,
    WebhookIn,
    webhook_out,
)
from wagate.models import Instance
from wagate.node import HasBus, HasDb, HasInstances, HasManager, HasSecrets, HasSettings
from wagate.phones import InvalidRecipient, normalize_phone
from wagate.repository import rows
from wagate.secretbox import SecretBox


class InstancesNode(HasBus, HasDb, HasInstances, HasManager, HasSecrets, HasSettings, Protocol):
    """What the instance operations use of the node."""


Req = TypeVar("Req")
Res = TypeVar("Res")


def to_out(row: Instance) -> InstanceOut:
    return InstanceOut(
        name=row.name,
        engine=row.engine,
        status=row.status,
        jid=row.jid,
        phone=row.phone,
        last_error=row.last_error,
        connected_at=row.connected_at,
        last_event_at=row.last_event_at,
        node=row.node,
        settings=settings_out(row.settings),
        webhook=webhook_out(row.webhook),
        created_at=row.created_at,
    )


def webhook_to_dict(webhook: WebhookIn, secrets: SecretBox) -> dict[str, Any]:
    secret = secrets.encrypt(webhook.secret) if webhook.secret else webhook.secret
    return {"url": str(webhook.url), "events": webhook.events, "secret": secret}


async def check_webhook_url(settings: Settings, url: str, field: str) -> None:
    """An instance webhook is the caller's URL: one that points at a loopback, private,
    link-local or metadata address is refused here (and again at every post)."""
    if settings.allow_private_webhook_urls:
        return
    try:
        await netguard.check_url(url, allow_private=False)
    except netguard.Refused as exc:
        raise ValidationFailed.field(field, str(exc)) from exc


def settings_out(stored: dict[str, Any] | None) -> SettingsOut:
    values = InstanceSettings(**(stored or {})).model_dump()
    view = proxies.view_of(values.pop("proxy"))
    return SettingsOut(**values, proxy=ProxyOut(**view.as_dict()) if view else None)


async def check_proxy(settings: Settings, url: str) -> None:
    """A proxy is dialled by this node and its engine hosts: one on a loopback, private,
    link-local or metadata address is refused unless the operator allows them."""
    if settings.allow_private_proxies:
        return
    view = proxies.parse(url)
    try:
        await netguard.checked_addresses(view.host, view.port, allow_private=False)
    except netguard.Refused as exc:
        message = str(exc).replace("the URL", "the proxy")
        raise ValidationFailed.field("settings.proxy", message) from None


def merged_settings(
    current: dict[str, Any], patch: InstanceSettingsPatch | None, secrets: SecretBox
) -> dict[str, Any]:
    """The stored settings with the patch applied: a new proxy is encrypted (check_proxy
    checked it first), an empty one removes it, none keeps it."""
    values = InstanceSettings(**(current or {})).model_dump()
    if patch is not None:
        changes = patch.model_dump(exclude_none=True)
        url = changes.pop("proxy", None)
        values.update(changes)
        if url == "":
            values["proxy"] = None
        elif url is not None:
            values["proxy"] = proxies.stored(url, secrets.encrypt)
    return InstanceSettings(**values).model_dump()


async def check_settings(settings: Settings, patch: InstanceSettingsPatch | None) -> None:
    if patch is not None and patch.proxy:
        await check_proxy(settings, patch.proxy)


async def load(state: HasDb, name: str) -> Instance:
    async with state.db.session() as session:
        row = await repository.get_by_name(session, name)
    if row is None:
        raise NotFound(f"instance '{name}' not found")
    return row


async def create(state: InstancesNode, body: CreateInstance) -> tuple[Instance, str]:
    if body.webhook is not None:
        await check_webhook_url(state.settings, str(body.webhook.url), "webhook.url")
    await check_settings(state.settings, body.settings)
    token = new_token(INSTANCE_PREFIX)
    row = Instance(
        name=body.name,
        engine=body.engine or state.settings.engine,
        token_hash=hash_token(token),
        status=Status.DISCONNECTED.value,
        desired_state="stopped",
        settings=merged_settings({}, body.settings, state.secrets),
        webhook=webhook_to_dict(body.webhook, state.secrets) if body.webhook else None,
    )
    try:
        async with state.db.transaction() as session:
            await repository.add(session, row)
    except IntegrityError as exc:
        raise Conflict(f"an instance named '{body.name}' already exists") from exc
    return row, token


async def patch_settings(state: InstancesNode, name: str, patch: InstanceSettingsPatch) -> Instance:
    await check_settings(state.settings, patch)
    async with state.db.transaction() as session:
        row = await repository.get_by_name(session, name)
        if row is None:
            raise NotFound(f"instance '{name}' not found")
        settings = merged_settings(row.settings, patch, state.secrets)
        await rows.set_columns(session, row, settings=settings, updated_at=utcnow())
    state.instances.invalidate(name)  # after the commit: a racing read cannot refill it
    # The route runs on the holder: its live client follows the new settings now.
    await state.manager.update_options(
        name,
        reject_calls=bool(row.settings["reject_calls"]),
        always_online=bool(row.settings["always_online"]),
    )
    return row


async def rotate_token(state: InstancesNode, name: str) -> str:
    token = new_token(INSTANCE_PREFIX)
    async with state.db.transaction() as session:
        row = await repository.get_by_name(session, name)
        if row is None:
            raise NotFound(f"instance '{name}' not found")
        await rows.set_columns(session, row, token_hash=hash_token(token))
    state.instances.invalidate(name)  # the old token stops working on this node now
    # And the streams it opened end, on every node (the admin's go on).
    await state.bus.end_streams(name, admin_too=False)
    return token


async def delete(state: InstancesNode, name: str) -> None:
    row = await load(state, name)
    try:
        await _delete(state, name, row)
    finally:
        # Also when the delete failed half-way: the next request reads the row again.
        state.instances.invalidate(name)
        state.instances.invalidate_webhook(row.id)
    await state.bus.end_streams(name, admin_too=True)  # every stream, on every node


async def _delete(state: InstancesNode, name: str, row: Instance) -> None:
    try:
        await state.manager.delete(name)  # deletes the row under the instance's lock
    except LookupError as exc:
        raise NotFound(f"instance '{name}' not found") from exc
    except NotConnectedError:
        # Its engine does not run on this node, or another node holds it (cluster): drop the
        # row; the holder stops the client when it sees the row gone.
        async with state.db.transaction() as session:
            await repository.delete_by_id(session, row.id)


async def lifecycle(state: InstancesNode, name: str, action: str) -> str:
    """connect | disconnect | logout | restart, mapped to API errors."""
    await load(state, name)
    manager = state.manager
    calls = {
        "connect": manager.connect,
        "disconnect": manager.disconnect,
        "logout": manager.logout,
        "restart": manager.restart,
    }
    try:
        status = await calls[action](name)
    except LookupError as exc:
        raise NotFound(f"instance '{name}' not found") from exc
    if action == "logout":
        # The device is unlinked: the streams its token holders opened end (they reconnect
        # to see the new state); the admin's go on.
        await state.bus.end_streams(name, admin_too=False)
    return status.value


async def pair(state: InstancesNode, name: str, phone: str) -> str:
    row = await load(state, name)
    try:
        digits = normalize_phone(phone)
    except InvalidRecipient as exc:
        raise ValidationFailed.field("phone", str(exc)) from exc
    if row.status == Status.CONNECTED.value:
        raise NotPairing("the instance is already linked and connected")
    try:
        return await state.manager.pair_phone(name, digits)
    except LookupError as exc:
        raise NotFound(f"instance '{name}' not found") from exc


class ActionNode(HasDb, HasManager, Protocol):
    """What running an engine action uses of the node: the instance's row and its client."""


async def run_action(
    state: ActionNode, scope: Scope, name: str, action: Action[Req, Res], request: Req
) -> Res:
    """Run a declared engine action on the instance's connected client. Its failures become
    API errors in one place (engine_failures, errors.install_error_handlers); the route must
    be marked @on_holder, or a cluster would answer it from the wrong node."""
    require_holder_route(scope)
    await load(state, name)
    return await state.manager.connected_client(name).call(action, request)


def qr_png(code: str, scale: int = 8) -> bytes:
    buffer = io.BytesIO()
    segno.make(code, error="l").save(buffer, kind="png", scale=scale, border=2)
    return buffer.getvalue()


async def current_qr(state: InstancesNode, name: str) -> tuple[str, datetime]:
    row = await load(state, name)
    if (
        row.status != Status.PAIRING.value
        or not row.qr_code
        or row.qr_expires_at is None
        or row.qr_expires_at <= utcnow()
    ):
        raise NotPairing("the instance is not waiting for a QR scan; connect it first")
    return row.qr_code, row.qr_expires_at


def qr_body(code: str, expires_at: datetime) -> QrOut:
    image = "data:image/png;base64," + base64.b64encode(qr_png(code)).decode("ascii")
    return QrOut(code=code, image=image, expires_at=expires_at)
