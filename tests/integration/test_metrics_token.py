"""WAGATE_METRICS_TOKEN: set, /metrics answers only its token or the admin token."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import ADMIN_TOKEN, create_instance

METRICS_TOKEN = "wgm_metrics_scraper_token_0123456789"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"metrics_token": METRICS_TOKEN}


async def test_metrics_needs_its_token_when_one_is_set(client: httpx.AsyncClient) -> None:
    instance_token = (await create_instance(client))["token"]
    for headers in (
        {"Authorization": ""},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Basic {METRICS_TOKEN}"},
        {"Authorization": f"Bearer {instance_token}"},
    ):
        refused = await client.get("/metrics", headers=headers)
        assert refused.status_code == 401, headers
        assert refused.json()["error"]["code"] == "unauthorized"
        assert METRICS_TOKEN not in refused.text
    for headers in (
        {"Authorization": f"Bearer {METRICS_TOKEN}"},
        {"Authorization": f"Bearer {ADMIN_TOKEN}"},
        {"Authorization": "", "X-Api-Key": METRICS_TOKEN},
    ):
        scraped = await client.get("/metrics", headers=headers)
        assert scraped.status_code == 200, headers
        assert "wagate_" in scraped.text


@pytest.mark.parametrize("settings_overrides", [{}])
async def test_metrics_is_open_without_a_token(client: httpx.AsyncClient) -> None:
    scraped = await client.get("/metrics", headers={"Authorization": ""})
    assert scraped.status_code == 200
    assert "wagate_" in scraped.text
