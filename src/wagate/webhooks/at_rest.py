"""Webhook secrets at rest, checked at start: every stored secret must open with this node's
key (a wrong key fails the start, not a delivery later), and secrets stored in plaintext by
an older version are encrypted."""

from __future__ import annotations

from typing import Any

import structlog

from wagate.db import Database
from wagate.instances import repository as instances
from wagate.secretbox import SecretBox, SecretKeyError
from wagate.webhooks import repository

log = structlog.get_logger(__name__)


def _secret(webhook: dict[str, Any] | None) -> str | None:
    value = (webhook or {}).get("secret")
    return str(value) if value else None


async def seal_webhook_secrets(db: Database, box: SecretBox) -> int:
    """Check and encrypt the stored webhook secrets; returns how many were encrypted now.
    Raises SecretKeyError, naming the instances, when this node's key opens some not."""
    async with db.session() as session:
        rows = await repository.stored_webhooks(session)
    unreadable: list[str] = []
    plaintext: list[int] = []
    for row in rows:
        secret = _secret(row.webhook)
        if secret is None:
            continue
        if not box.is_encrypted(secret):
            plaintext.append(row.id)
            continue
        try:
            box.decrypt(secret)
        except SecretKeyError:
            unreadable.append(row.name)
    if unreadable:
        shown = ", ".join(unreadable[:5]) + (" …" if len(unreadable) > 5 else "")
        raise SecretKeyError(
            f"the key of {box.source} cannot decrypt the stored webhook secrets of "
            f"{len(unreadable)} instance(s) ({shown}): start with the key they were stored "
            "with (WAGATE_SECRET_KEY, or the data directory's secret.key); every node of a "
            "cluster needs the same WAGATE_SECRET_KEY"
        )
    if not plaintext:
        return 0
    sealed = 0
    async with db.transaction() as session:
        # Read again under a row lock (PostgreSQL): a webhook another node replaces meanwhile
        # is not overwritten with the old one.
        for instance_id, webhook in await repository.lock_instance_webhooks(session, plaintext):
            secret = _secret(webhook)
            if secret is None or box.is_encrypted(secret):
                continue
            await instances.update_fields(
                session, instance_id, webhook={**webhook, "secret": box.encrypt(secret)}
            )
            sealed += 1
    if sealed:
        log.info("stored webhook secrets encrypted", count=sealed)
    return sealed
