"""`/healthz` and the OpenAPI document carry the package's version."""

from __future__ import annotations

import httpx

import wagate


async def test_healthz_and_openapi_carry_the_version(client: httpx.AsyncClient) -> None:
    assert wagate.__version__ != "0+unknown"  # the test runs against the installed package
    health = await client.get("/healthz", headers={"Authorization": ""})
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "version": wagate.__version__}
    document = (await client.get("/openapi.json")).json()
    assert document["info"]["version"] == wagate.__version__
