"""What is kept of a sent message: its media bytes until it is final (a dead letter keeps them
until it is deleted), its body until WAGATE_MESSAGE_BODY_RETENTION_S; the record always."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select, update

from tests.conftest import linked_instance
from tests.integration.messaging.conftest import png_bytes, wait_message
from wagate.db import Database, utcnow
from wagate.messages.retention import BodyRetention
from wagate.models import Message, OutgoingMedia

TO = "5511987654321"
RETENTION_S = 3600


def db_of(app: FastAPI) -> Database:
    db: Database = app.state.wagate.db
    return db


async def faults(client: httpx.AsyncClient, name: str, **body: Any) -> None:
    response = await client.post(f"/v1/instances/{name}/simulator/faults", json=body)
    assert response.status_code in (200, 204), response.text


def outcome(response: httpx.Response) -> dict[str, Any]:
    """A sync send's correlation id and status (a rejected one answers 502 with them)."""
    if response.status_code == 502:
        details = response.json()["error"]["details"]
        return {"correlation_id": details["correlation_id"], "status": "failed"}
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def send_image(client: httpx.AsyncClient, name: str, caption: str) -> dict[str, Any]:
    return outcome(
        await client.post(
            f"/v1/instances/{name}/send/image",
            data={"to": TO, "caption": caption},
            files={"file": ("p.png", png_bytes(), "image/png")},
        )
    )


async def send_text(client: httpx.AsyncClient, name: str, text: str) -> dict[str, Any]:
    return outcome(
        await client.post(f"/v1/instances/{name}/send/text", json={"to": TO, "text": text})
    )


async def stored_media(app: FastAPI, correlation_id: str) -> int:
    async with db_of(app).session() as session:
        found = await session.execute(
            select(func.count())
            .select_from(OutgoingMedia)
            .join(Message, Message.id == OutgoingMedia.message_pk)
            .where(Message.correlation_id == correlation_id)
        )
        return int(found.scalar_one())


async def body_of(app: FastAPI, correlation_id: str) -> dict[str, Any]:
    async with db_of(app).session() as session:
        found = await session.execute(
            select(Message.body).where(Message.correlation_id == correlation_id)
        )
        body: dict[str, Any] = found.scalar_one()
        return body


async def age(app: FastAPI, correlation_id: str, seconds: float) -> None:
    async with db_of(app).transaction() as session:
        await session.execute(
            update(Message)
            .where(Message.correlation_id == correlation_id)
            .values(created_at=utcnow() - timedelta(seconds=seconds))
        )


async def test_sent_media_is_dropped_a_dead_letters_kept_until_deleted(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    name = (await linked_instance(client))["name"]
    sent = await send_image(client, name, "sent")
    assert sent["status"] == "sent"
    assert await stored_media(app, sent["correlation_id"]) == 0

    # A dead letter can be sent again: it keeps its bytes, and the retry sends them.
    await faults(client, name, fail_next=1, fail_kind="permanent")
    failed = await send_image(client, name, "failed")
    assert failed["status"] == "failed"
    assert await stored_media(app, failed["correlation_id"]) == 1
    retried = await client.post(f"/v1/dead-letters/{failed['correlation_id']}/retry")
    assert retried.status_code == 202, retried.text
    await wait_message(client, name, failed["correlation_id"], {"sent", "delivered", "read"})
    assert await stored_media(app, failed["correlation_id"]) == 0
    outbox = (await client.get(f"/v1/instances/{name}/simulator/outbox")).json()["messages"]
    assert [m["body"].get("caption") for m in outbox] == ["sent", "failed"]

    # Deleted from the dead letters, it can no longer be sent: its bytes go.
    await faults(client, name, fail_next=1, fail_kind="permanent")
    dropped = await send_image(client, name, "dropped")
    assert await stored_media(app, dropped["correlation_id"]) == 1
    deleted = await client.delete(f"/v1/dead-letters/{dropped['correlation_id']}")
    assert deleted.status_code == 204
    assert await stored_media(app, dropped["correlation_id"]) == 0
    record = await client.get(f"/v1/instances/{name}/messages/{dropped['correlation_id']}")
    assert record.status_code == 200 and record.json()["status"] == "failed"


async def test_bodies_past_the_retention_are_blanked_the_records_stay(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    name = (await linked_instance(client))["name"]
    old = await send_text(client, name, "old secret")
    recent = await send_text(client, name, "recent")
    await faults(client, name, fail_next=1, fail_kind="permanent")
    dead = await send_text(client, name, "dead letter")
    assert dead["status"] == "failed"
    old_image = await send_image(client, name, "old caption")
    for item in (old, dead, old_image):
        await age(app, item["correlation_id"], RETENTION_S + 60)
    await age(app, recent["correlation_id"], RETENTION_S - 60)

    # The app runs the job every minute; here it is run at once, with a shorter retention.
    running = app.state.wagate.messaging.retention
    assert running is not None and not running.done()
    retention = BodyRetention(db_of(app), RETENTION_S)
    assert await retention.run_once() == 2
    assert await body_of(app, old["correlation_id"]) == {}
    assert await body_of(app, old_image["correlation_id"]) == {}
    assert (await body_of(app, recent["correlation_id"]))["text"] == "recent"
    assert (await body_of(app, dead["correlation_id"]))["text"] == "dead letter"  # retryable
    record = await client.get(f"/v1/instances/{name}/messages/{old['correlation_id']}")
    assert record.status_code == 200, record.text
    assert record.json()["status"] in {"sent", "delivered", "read"}
    assert record.json()["to"] and record.json()["sent_at"]

    # Nothing new is due: the next run reads from where the last stopped.
    assert await retention.run_once() == 0
    # Out of the dead letters, the old one follows the retention at the next run.
    assert (await client.delete(f"/v1/dead-letters/{dead['correlation_id']}")).status_code == 204
    assert await retention.run_once() == 1
    assert await body_of(app, dead["correlation_id"]) == {}
