"""GET /v1/instances pages: keyset pages on the id, a status filter, an index under both, and
a clear 422 for a cursor, limit or status the API does not take (both databases)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.dialects import postgresql, sqlite

from tests.conftest import create_instance, linked_instance
from tests.integration.instance_helpers import assert_error, token_headers
from wagate.instances.repository import InstancePage, page_query


async def walk(
    client: httpx.AsyncClient,
    limit: int,
    between: Any = None,
    **params: str,
) -> list[str]:
    """Every name the pages show, calling `between(page_number)` after each page."""
    names: list[str] = []
    cursor: str | None = None
    number = 0
    while True:
        query = {**params, "limit": str(limit), **({"cursor": cursor} if cursor else {})}
        response = await client.get("/v1/instances", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"instances", "next_cursor"}
        assert len(body["instances"]) <= limit
        names += [item["name"] for item in body["instances"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return names
        number += 1
        if between is not None:
            await between(number)


async def test_pages_neither_skip_nor_repeat_while_instances_come_and_go(
    client: httpx.AsyncClient,
) -> None:
    first = [(await create_instance(client))["name"] for _ in range(10)]
    created: list[str] = []
    deleted: list[str] = []

    async def churn(page: int) -> None:
        # After each page: one instance already shown goes, one not shown yet goes, and a new
        # one comes.
        shown_here = first[(page - 1) * 3]
        ahead = first[-page]
        for name in (shown_here, ahead):
            if name not in deleted:
                response = await client.delete(f"/v1/instances/{name}")
                assert response.status_code == 204, response.text
                deleted.append(name)
        created.append((await create_instance(client))["name"])

    seen = await walk(client, 3, churn)
    assert len(seen) == len(set(seen)), seen  # no instance twice
    # Every instance that lived through the whole walk is shown, in creation order; those
    # created meanwhile come at the end; one deleted before its page came is not shown.
    kept = [name for name in first if name not in deleted]
    assert [name for name in seen if name in kept] == kept
    assert seen[-len(created) :] == created
    assert first[-1] not in seen
    assert len(created) >= 3


async def test_the_last_page_says_so_and_a_full_list_is_one_page(
    client: httpx.AsyncClient,
) -> None:
    names = [(await create_instance(client))["name"] for _ in range(4)]
    body = (await client.get("/v1/instances", params={"limit": "4"})).json()
    assert [item["name"] for item in body["instances"]] == names
    assert body["next_cursor"] is None
    body = (await client.get("/v1/instances", params={"limit": "2"})).json()
    assert [item["name"] for item in body["instances"]] == names[:2]
    assert body["next_cursor"] is not None
    rest = (await client.get("/v1/instances", params={"cursor": body["next_cursor"]})).json()
    assert [item["name"] for item in rest["instances"]] == names[2:]
    assert rest["next_cursor"] is None


async def test_the_status_filter(client: httpx.AsyncClient) -> None:
    linked = await linked_instance(client)
    idle = [(await create_instance(client))["name"] for _ in range(3)]
    assert await walk(client, 2, status="connected") == [linked["name"]]
    assert await walk(client, 2, status="disconnected") == idle
    assert await walk(client, 2, status="pairing") == []
    # An instance token: only its own, and only when it is in that status.
    mine = token_headers(linked["token"])
    own = await client.get("/v1/instances", params={"status": "connected"}, headers=mine)
    assert [item["name"] for item in own.json()["instances"]] == [linked["name"]]
    none = await client.get("/v1/instances", params={"status": "disconnected"}, headers=mine)
    assert none.json() == {"instances": [], "next_cursor": None}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"cursor": "abc"}, "cursor"),
        ({"cursor": "-1"}, "cursor"),
        ({"cursor": "²"}, "cursor"),
        ({"cursor": str(2**63)}, "cursor"),
        ({"cursor": ""}, "cursor"),
        ({"cursor": "9" * 33}, "cursor"),
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"status": "online"}, "status"),
    ],
)
async def test_a_bad_cursor_limit_or_status_is_a_422(
    client: httpx.AsyncClient, params: dict[str, str], field: str
) -> None:
    response = await client.get("/v1/instances", params=params)
    error = assert_error(response, 422, "validation_error")
    assert field in {item["field"] for item in error["details"]["fields"]}, error


async def test_the_largest_cursor_is_an_empty_page(client: httpx.AsyncClient) -> None:
    await create_instance(client)
    response = await client.get("/v1/instances", params={"cursor": str(2**63 - 1)})
    assert response.json() == {"instances": [], "next_cursor": None}


async def test_a_page_reads_an_index_not_the_table(app: FastAPI) -> None:
    """With or without a status, the page is a range of an index (no scan of the table)."""
    db = app.state.wagate.db
    for page in (InstancePage(limit=100, after=5), InstancePage(100, 5, "connected")):
        plan = await explain(db, page)
        if db.is_sqlite:
            assert "SCAN" not in plan, plan
        else:
            assert "Seq Scan" not in plan and "Index" in plan, plan
    assert "ix_instances_status_id" in await explain(db, InstancePage(100, 5, "connected"))


async def explain(db: Any, page: InstancePage) -> str:
    dialect = sqlite.dialect() if db.is_sqlite else postgresql.dialect()
    query = page_query(page).compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    async with db.session() as session:
        if db.is_sqlite:
            rows = (await session.execute(text(f"EXPLAIN QUERY PLAN {query}"))).all()
            return "\n".join(str(row[-1]) for row in rows)
        # A small table is read whole whatever its indexes: the planner is told not to, so
        # the plan shows whether an index serves the query at all.
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        rows = (await session.execute(text(f"EXPLAIN {query}"))).all()
        return "\n".join(str(row[0]) for row in rows)
