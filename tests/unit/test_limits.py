"""Request limits: token buckets, body size cut-off, rate limiting over HTTP."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import create_instance
from wagate.auth.tokens import token_from_headers
from wagate.limits import TokenBuckets


def test_bucket_allows_burst_then_waits() -> None:
    buckets = TokenBuckets(rate=2.0, burst=3)
    assert [buckets.take("k", now=0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = buckets.take("k", now=0.0)
    assert wait == pytest.approx(0.5)
    # Half a second later one request is allowed again; others are independent.
    assert buckets.take("k", now=0.6) == 0.0
    assert buckets.take("other", now=0.0) == 0.0


def test_wait_tells_without_taking() -> None:
    buckets = TokenBuckets(rate=1.0, burst=2)
    assert buckets.wait("k", now=0.0) == 0.0
    assert [buckets.take("k", now=0.0) for _ in range(2)] == [0.0, 0.0]
    assert buckets.wait("k", now=0.0) == pytest.approx(1.0)
    assert buckets.wait("k", now=0.5) == pytest.approx(0.5)  # asking took nothing
    assert buckets.take("k", now=1.0) == 0.0


def test_the_token_of_a_request_is_the_bearer_one_whatever_the_header_order() -> None:
    # The rate limit and the auth read the same token: a random X-Api-Key ahead of a valid
    # Authorization header must not be the one either of them sees.
    headers = [(b"x-api-key", b"random"), (b"authorization", b"Bearer wgi_real")]
    assert token_from_headers(headers) == "wgi_real"
    assert token_from_headers([(b"x-api-key", b" wgi_key ")]) == "wgi_key"
    basic = [(b"authorization", b"Basic abc"), (b"x-api-key", b"wgi_key")]
    assert token_from_headers(basic) == "wgi_key"
    assert token_from_headers([(b"authorization", b"Bearer  ")]) is None
    assert token_from_headers([]) is None


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"max_request_bytes": 10_000, "rate_limit_per_s": 1.0, "rate_limit_burst": 3}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_body_over_limit_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/instances",
        content=b"{" + b" " * 20_000 + b"}",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_instance_token_rate_limited_admin_not(client: httpx.AsyncClient) -> None:
    created = await create_instance(client)
    headers = {"Authorization": f"Bearer {created['token']}"}
    codes = [
        (await client.get(f"/v1/instances/{created['name']}", headers=headers)).status_code
        for _ in range(5)
    ]
    assert codes[:3] == [200, 200, 200]
    assert codes[-1] == 429
    limited = await client.get(f"/v1/instances/{created['name']}", headers=headers)
    assert limited.status_code == 429
    assert int(limited.headers["retry-after"]) >= 1
    assert limited.json()["error"]["code"] == "rate_limited"
    for _ in range(10):  # the admin token is exempt by default
        assert (await client.get("/v1/instances")).status_code == 200
