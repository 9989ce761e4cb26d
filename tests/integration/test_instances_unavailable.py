"""The database goes away under a running gateway: 503 unavailable, never a 500."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import _pg_admin, create_instance
from tests.integration.instance_helpers import assert_error
from wagate.config import Settings


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_database_refusing_connections_is_503(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    instance = await create_instance(client)
    name = settings.effective_database_url.rsplit("/", 1)[1]
    await _pg_admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    try:
        await _pg_admin(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        )
        for method, path in [
            ("GET", "/v1/instances"),
            ("GET", f"/v1/instances/{instance['name']}"),
            ("POST", f"/v1/instances/{instance['name']}/connect"),
            ("POST", "/v1/instances"),
        ]:
            response = await client.request(method, path, json={"name": "later"})
            assert_error(response, 503, "unavailable")
            assert response.headers["retry-after"] == "5"
        ready = await client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["database"].startswith("error")
    finally:
        await _pg_admin(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
    # back: everything answers again
    assert (await client.get(f"/v1/instances/{instance['name']}")).status_code == 200
    assert (await client.get("/readyz")).status_code == 200
