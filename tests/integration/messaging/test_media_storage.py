"""Received media in the media store, on both stores (the local directory and S3, moto's server
as a real process) and both databases: served with its type and security headers, by range,
kept once per content, across a restart; 410 when the bytes left the store; the sweep deletes
an object when its last reference goes (received media and the history's messages); a
presigned redirect on S3."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, func, select, update

from tests.conftest import admin_headers, linked_instance, running_app
from tests.integration.messaging.conftest import png_bytes
from tests.support.polling import eventually
from tests.support.s3 import S3Server
from wagate.config import Settings
from wagate.db import utcnow
from wagate.media_store.refs import sweep
from wagate.messages import repository
from wagate.models import ChatMessage, MediaObject, ReceivedMedia

TO = "5511987654321"


@pytest.fixture(params=["local", "s3"])
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    if request.param == "local":
        return {}
    server: S3Server = request.getfixturevalue("s3_server")
    return server.settings(server.new_bucket())


@asynccontextmanager
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://wagate.test", headers=admin_headers(), timeout=30
    ) as client:
        yield client


async def receive(
    client: httpx.AsyncClient, name: str, data: bytes, mimetype: str = "image/png", **extra: Any
) -> str:
    body = {
        "from": TO,
        "kind": "document" if mimetype == "application/pdf" else "image",
        "media": {"base64": base64.b64encode(data).decode(), "mimetype": mimetype, **extra},
    }
    response = await client.post(f"/v1/instances/{name}/simulator/inbound", json=body)
    assert response.status_code in (200, 201), response.text
    message_id: str = response.json()["message_id"]

    async def kept() -> bool:  # inbound messages are handled in the background
        answer = await client.get(f"/v1/instances/{name}/media/{message_id}")
        return answer.status_code != 404

    await eventually(kept, what="received media kept")
    return message_id


async def objects(app: FastAPI) -> list[str]:
    async with app.state.wagate.db.session() as session:
        return list((await session.scalars(select(MediaObject.key))).all())


async def test_served_with_ranges(client: httpx.AsyncClient) -> None:
    name = (await linked_instance(client))["name"]
    image = png_bytes() + os.urandom(300_000)  # bigger than a chunk of the store
    message_id = await receive(client, name, image)
    url = f"/v1/instances/{name}/media/{message_id}"
    whole = await client.get(url)
    assert whole.status_code == 200
    assert whole.content == image
    assert whole.headers["content-type"] == "image/png"
    assert whole.headers["content-length"] == str(len(image))
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["x-content-type-options"] == "nosniff"
    assert whole.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert whole.headers["content-disposition"] == "inline"
    size = len(image)
    for asked, first, last in [
        ("bytes=0-99", 0, 99),
        ("bytes=262100-262200", 262100, 262200),
        ("bytes=1000-", 1000, size - 1),
        ("bytes=-500", size - 500, size - 1),
        (f"bytes=10-{size + 50}", 10, size - 1),  # an end past the file is cut to it
    ]:
        part = await client.get(url, headers={"Range": asked})
        assert part.status_code == 206, asked
        assert part.content == image[first : last + 1], asked
        assert part.headers["content-range"] == f"bytes {first}-{last}/{size}"
        assert part.headers["content-length"] == str(last - first + 1)
        assert part.headers["content-type"] == "image/png"
        assert part.headers["x-content-type-options"] == "nosniff"
    for outside in (f"bytes={size}-", f"bytes={size + 10}-{size + 20}", "bytes=-0"):
        refused = await client.get(url, headers={"Range": outside})
        assert refused.status_code == 416, outside
        assert refused.json()["error"]["code"] == "range_not_satisfiable"
        assert refused.headers["content-range"] == f"bytes */{size}"
    # A range this server does not take is ignored (RFC 9110): the whole file.
    for ignored in ("items=0-5", "bytes=0-5,10-20", "bytes=9-3", "bytes=x-y"):
        answer = await client.get(url, headers={"Range": ignored})
        assert answer.status_code == 200, ignored
        assert answer.content == image


async def test_document_keeps_its_name_and_is_a_download(client: httpx.AsyncClient) -> None:
    name = (await linked_instance(client))["name"]
    pdf = b"%PDF-1.4\n" + os.urandom(2000)
    message_id = await receive(client, name, pdf, "application/pdf", filename="отчёт.pdf")
    answer = await client.get(f"/v1/instances/{name}/media/{message_id}")
    assert answer.status_code == 200 and answer.content == pdf
    assert answer.headers["content-disposition"].startswith("attachment; filename=")
    assert (
        "filename*=UTF-8''%D0%BE%D1%82%D1%87%D1%91%D1%82.pdf"
        in (answer.headers["content-disposition"])
    )


async def test_once_per_content_across_a_restart_and_gone(settings: Settings) -> None:
    image = png_bytes() + os.urandom(5000)
    async with running_app(settings) as app, http(app) as client:
        name = (await linked_instance(client))["name"]
        first = await receive(client, name, image)
        second = await receive(client, name, image)
        other = await receive(client, name, png_bytes() + b"other")
        assert len(await objects(app)) == 2  # the same bytes twice: one object
    async with running_app(settings) as app, http(app) as client:
        for message_id, expected in ((first, image), (second, image)):
            answer = await client.get(f"/v1/instances/{name}/media/{message_id}")
            assert answer.status_code == 200 and answer.content == expected
        # The bytes leave the store behind the gateway's back: 410, and the message is known.
        await app.state.wagate.media.delete(await _key(app, other))
        gone = await client.get(f"/v1/instances/{name}/media/{other}")
        assert gone.status_code == 410
        assert gone.json()["error"]["code"] == "gone"
        ranged = await client.get(
            f"/v1/instances/{name}/media/{other}", headers={"Range": "bytes=0-1"}
        )
        assert ranged.status_code == 410
        assert (await client.get(f"/v1/instances/{name}/media/unknown")).status_code == 404


async def test_sweep_deletes_an_object_with_its_last_reference(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    state = app.state.wagate
    name = (await linked_instance(client))["name"]
    shared = png_bytes() + b"shared"
    first = await receive(client, name, shared)
    second = await receive(client, name, shared)
    alone = await receive(client, name, png_bytes() + b"alone")
    async with state.db.session() as session:
        keys = dict(
            (await session.execute(select(ReceivedMedia.message_id, ReceivedMedia.media_key))).all()
        )
    assert keys[first] == keys[second] != keys[alone]
    # Recently touched: the grace keeps even an unreferenced object (a row may be on its way).
    assert await sweep(state.db, state.media, grace_s=3600) == 0

    async def expire(*message_ids: str) -> None:
        async with state.db.transaction() as session:
            await session.execute(
                update(ReceivedMedia)
                .where(ReceivedMedia.message_id.in_(message_ids))
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )

    async def age_objects() -> None:
        async with state.db.transaction() as session:
            await session.execute(
                update(MediaObject).values(touched_at=utcnow() - timedelta(hours=2))
            )

    async def forget(*message_ids: str) -> None:  # as the history's retention does
        async with state.db.transaction() as session:
            await session.execute(
                delete(ChatMessage).where(ChatMessage.message_id.in_(message_ids))
            )

    await age_objects()
    assert await sweep(state.db, state.media, grace_s=3600) == 0  # every object still referred to
    # The received media expires (the reconciler's purge): the history's messages still keep
    # their media.
    await expire(first, alone)
    async with state.db.transaction() as session:
        await repository.purge_expired(session, utcnow())
    assert await sweep(state.db, state.media, grace_s=3600) == 0
    # One of two references goes: the shared object stays.
    await forget(first, alone)
    assert await sweep(state.db, state.media, grace_s=3600) == 1
    assert not await state.media.exists(keys[alone])
    assert await state.media.exists(keys[first])
    assert await objects(app) == [keys[first]]
    answer = await client.get(f"/v1/instances/{name}/media/{second}")
    assert answer.status_code == 200 and answer.content == shared
    # The same bytes arriving again after their object was swept are stored anew.
    await expire(second)
    async with state.db.transaction() as session:
        await repository.purge_expired(session, utcnow())
    await forget(second)
    assert await sweep(state.db, state.media, grace_s=3600) == 1
    assert await objects(app) == []
    again = await receive(client, name, shared)
    answer = await client.get(f"/v1/instances/{name}/media/{again}")
    assert answer.status_code == 200 and answer.content == shared
    async with state.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(MediaObject)) == 1


async def test_redirect_to_a_presigned_url(client: httpx.AsyncClient, app: FastAPI) -> None:
    state = app.state.wagate
    name = (await linked_instance(client))["name"]
    image = png_bytes() + os.urandom(1000)
    message_id = await receive(client, name, image)
    url = f"/v1/instances/{name}/media/{message_id}"
    asked = await client.get(url, params={"redirect": "true"})
    if state.media.name == "local":
        # Nothing to redirect to: the bytes themselves.
        assert asked.status_code == 200 and asked.content == image
        return
    assert asked.status_code == 302
    assert asked.headers["cache-control"] == "no-store"
    location = asked.headers["location"]
    assert location.startswith(state.settings.media_s3_endpoint_url)
    fetched = httpx.get(location)  # from the S3 server itself, with the URL's signature only
    assert fetched.status_code == 200 and fetched.content == image
    assert fetched.headers["content-type"] == "image/png"
    assert fetched.headers["content-disposition"] == "inline"
    partial = httpx.get(location, headers={"Range": "bytes=0-9"})
    assert partial.status_code == 206 and partial.content == image[:10]
    # The setting makes it the default; ?redirect=false asks for the bytes.
    state.settings.media_redirect = True
    assert (await client.get(url)).status_code == 302
    direct = await client.get(url, params={"redirect": "false"})
    assert direct.status_code == 200 and direct.content == image
    # A presigned URL for bytes that are gone is no answer: 410 first.
    await state.media.delete(await _key(app, message_id))
    assert (await client.get(url)).status_code == 410


async def _key(app: FastAPI, message_id: str) -> str:
    async with app.state.wagate.db.session() as session:
        key: str = await session.scalar(
            select(ReceivedMedia.media_key).where(ReceivedMedia.message_id == message_id)
        )
    return key
