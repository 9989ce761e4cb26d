"""The history's media, on both databases and both media stores (the local directory and S3,
moto's server as a real process):

- a history message's media is fetched once, in the background, stored and served like a
  received message's; one the network no longer has answers 410 gone;
- a media object referred to by a kept message stays in the store as long as the message does
  (after its received-media row expired, across a restart), and is swept once the message
  leaves the history: retention, a revoke, the instance's deletion; an object two messages
  share stays while one of them keeps it.
"""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from tests.conftest import linked_instance, running_app
from tests.integration.history.test_history import stored
from tests.integration.history.test_sync import settle
from tests.integration.messaging.conftest import png_bytes
from tests.integration.messaging.test_media_storage import http
from tests.support.polling import eventually
from tests.support.s3 import S3Server
from wagate.config import Settings
from wagate.db import utcnow
from wagate.engines.simulator.history import MEDIA_KEPT, contact_of, photo_bytes
from wagate.history.retention import HistoryRetention
from wagate.media_store.refs import sweep
from wagate.messages import repository
from wagate.models import MediaObject, ReceivedMedia

ALICE = "4915112345678"
# One chat of 8 messages, 8 days apart: its photos (every fourth message, from the second) are
# 56 days old (past what the network keeps) and 24 days old (still there).
HISTORY = {
    "simulator_history_chats": 1,
    "simulator_history_messages": 8,
    "simulator_history_days": 64,
}


@pytest.fixture(params=["local", "s3"])
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "local":
        return dict(HISTORY)
    server: S3Server = request.getfixturevalue("s3_server")
    return HISTORY | server.settings(server.new_bucket())


async def objects(app: FastAPI) -> dict[str, Any]:
    async with app.state.wagate.db.session() as session:
        found = await session.execute(select(MediaObject.key, MediaObject.touched_at))
        return dict(found.all())


async def age_objects(app: FastAPI) -> None:
    """Past the sweep's grace: only the references keep an object now."""
    async with app.state.wagate.db.transaction() as session:
        await session.execute(update(MediaObject).values(touched_at=utcnow() - timedelta(hours=2)))


async def expire_received(app: FastAPI) -> None:
    """Every received-media row past WAGATE_MEDIA_RETENTION_S, purged as the reconciler does."""
    async with app.state.wagate.db.transaction() as session:
        await session.execute(
            update(ReceivedMedia).values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await repository.purge_expired(session, utcnow())


async def swept(app: FastAPI) -> int:
    state = app.state.wagate
    return await sweep(state.db, state.media, grace_s=3600)


async def receive_photo(client: httpx.AsyncClient, name: str, data: bytes) -> str:
    body = {
        "from": ALICE,
        "kind": "image",
        "media": {"base64": base64.b64encode(data).decode(), "mimetype": "image/png"},
    }
    answer = await client.post(f"/v1/instances/{name}/simulator/inbound", json=body)
    assert answer.status_code in (200, 201), answer.text
    message_id: str = answer.json()["message_id"]

    async def kept() -> bool:  # the message and its media reference are written in the background
        rows = await stored(client, name, ALICE)
        return any(r["message_id"] == message_id and (r["media"] or {}).get("key") for r in rows)

    await eventually(kept, what="the received photo kept in the history")
    return message_id


async def test_history_media_is_fetched_once_and_served(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    name = (await linked_instance(client, settings={"history_sync": "full"}))["name"]
    await settle(app)
    rows = {row["message_id"]: row for row in await stored(client, name, contact_of(0))}
    photos = [row for row in rows.values() if row["kind"] == "image"]
    assert len(photos) == 2
    old, recent = sorted(photos, key=lambda row: row["timestamp"])
    for row in (old, recent):
        assert row["media"]["mimetype"] == "image/png"
        assert row["media"]["url"] == f"/v1/instances/{name}/media/{row['message_id']}"
        assert row["caption"].startswith("history photo")
    # The recent photo: fetched, stored, served like received media.
    assert recent["media"]["key"] is not None
    served = await client.get(recent["media"]["url"])
    assert served.status_code == 200, served.text
    assert served.content == photo_bytes(recent["message_id"])
    assert served.headers["content-type"] == "image/png"
    part = await client.get(recent["media"]["url"], headers={"Range": "bytes=0-7"})
    assert part.status_code == 206 and part.content == photo_bytes(recent["message_id"])[:8]
    # The old one: older than the network keeps media, its download failed: 410, not an error.
    assert utcnow() - timedelta(days=56) < utcnow() - MEDIA_KEPT
    assert old["media"]["key"] is None
    gone = await client.get(old["media"]["url"])
    assert gone.status_code == 410
    assert gone.json()["error"]["code"] == "gone"
    # The same history again: nothing new to keep, so nothing downloaded (a download stores
    # its bytes again, which touches their object).
    before = await objects(app)
    assert len(before) == 1
    again = await client.post(f"/v1/instances/{name}/simulator/history", json={})
    assert again.status_code == 200, again.text
    await settle(app)
    assert await objects(app) == before


async def test_media_lasts_as_long_as_its_message(settings: Settings) -> None:
    shared = png_bytes() + b"sent twice"
    alone = png_bytes() + b"sent once"
    async with running_app(settings) as app, http(app) as client:
        instance = await linked_instance(client, settings={"history_sync": "full"})
        name = instance["name"]
        await settle(app)
        first = await receive_photo(client, name, shared)
        second = await receive_photo(client, name, shared)
        single = await receive_photo(client, name, alone)
        history_photo = next(
            row
            for row in await stored(client, name, contact_of(0))
            if row["kind"] == "image" and row["media"]["key"]
        )
        assert len(await objects(app)) == 3
        # Received media expires: the history's messages keep their objects.
        await expire_received(app)
        await age_objects(app)
        assert await swept(app) == 0
    # Across a restart: still kept, still served (now from the history's reference).
    async with running_app(settings) as app, http(app) as client:
        for message_id, expected in ((first, shared), (single, alone)):
            answer = await client.get(f"/v1/instances/{name}/media/{message_id}")
            assert answer.status_code == 200 and answer.content == expected
        # A revoke blanks the message, its media with it; the shared object stays for the
        # other message.
        revoke = await client.post(
            f"/v1/instances/{name}/simulator/revoke", json={"from": ALICE, "message_id": first}
        )
        assert revoke.status_code < 300, revoke.text

        async def revoked() -> dict[str, Any] | None:
            found = await client.get(f"/v1/instances/{name}/chats/{ALICE}/messages/{first}")
            row = found.json()
            return dict(row) if row["revoked"] else None

        row = await eventually(revoked, what="the revoke kept")
        assert row["media"] is None
        assert (await client.get(f"/v1/instances/{name}/media/{first}")).status_code == 404
        await age_objects(app)
        assert await swept(app) == 0
        answer = await client.get(f"/v1/instances/{name}/media/{second}")
        assert answer.status_code == 200 and answer.content == shared
        # Retention: the instance keeps no history (0 days): every received message goes,
        # and its media with it.
        patch = {"settings": {"history_retention_days": 0}}
        assert (await client.patch(f"/v1/instances/{name}", json=patch)).status_code == 200
        await HistoryRetention(app.state.wagate.db).run_once()
        assert await swept(app) == 3
        assert await objects(app) == {}
        for message_id in (second, single, history_photo["message_id"]):
            answer = await client.get(f"/v1/instances/{name}/media/{message_id}")
            assert answer.status_code == 404, message_id
        assert not await app.state.wagate.media.exists(history_photo["media"]["key"])


async def test_media_goes_with_its_instance(client: httpx.AsyncClient, app: FastAPI) -> None:
    name = (await linked_instance(client, settings={"history_sync": "off"}))["name"]
    message_id = await receive_photo(client, name, png_bytes() + b"of a deleted instance")
    keys = list(await objects(app))
    assert len(keys) == 1
    await age_objects(app)
    assert await swept(app) == 0
    assert (await client.delete(f"/v1/instances/{name}")).status_code == 204
    assert await swept(app) == 1
    assert not await app.state.wagate.media.exists(keys[0])
    assert message_id
