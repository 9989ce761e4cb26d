"""A page cursor the API did not give answers 422, never 500 (whatever the database)."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import create_instance
from tests.integration.instance_helpers import assert_error

BAD_MESSAGE_CURSORS = [
    "9" * 20,  # beyond a BIGINT
    str(2**63),  # one past the largest BIGINT
    "²",  # str.isdigit() says yes, int() says no
    "١٢٣",  # Arabic-Indic digits: int() reads them, the API never gives them
    "-1",
    "",
]


@pytest.mark.parametrize("cursor", BAD_MESSAGE_CURSORS)
async def test_message_list_rejects_a_foreign_cursor(
    client: httpx.AsyncClient, cursor: str
) -> None:
    name = (await create_instance(client))["name"]
    response = await client.get(f"/v1/instances/{name}/messages", params={"cursor": cursor})
    assert_error(response, 422, "validation_error")
    assert response.json()["error"]["details"]["fields"][0]["field"] == "cursor"


async def test_message_list_takes_the_largest_bigint(client: httpx.AsyncClient) -> None:
    name = (await create_instance(client))["name"]
    response = await client.get(f"/v1/instances/{name}/messages", params={"cursor": str(2**63 - 1)})
    assert response.status_code == 200, response.text
    assert response.json() == {"messages": [], "next_cursor": None}


@pytest.mark.parametrize("cursor", ["\x00", "dlv_\x00", "abc", "dlv_" + "g" * 32])
async def test_delivery_list_rejects_a_foreign_cursor(
    client: httpx.AsyncClient, cursor: str
) -> None:
    name = (await create_instance(client))["name"]
    response = await client.get(
        f"/v1/instances/{name}/webhook/deliveries", params={"cursor": cursor}
    )
    assert_error(response, 422, "validation_error")


@pytest.mark.parametrize("delivery_id", ["%00", "dlv_%00", "nope"])
async def test_a_foreign_delivery_id_is_not_found(
    client: httpx.AsyncClient, delivery_id: str
) -> None:
    name = (await create_instance(client))["name"]
    response = await client.get(f"/v1/instances/{name}/webhook/deliveries/{delivery_id}")
    assert_error(response, 404, "not_found")
