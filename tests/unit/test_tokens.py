"""Tokens: generation, hashing, the constant-time compare and how a request carries them."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest
from starlette.requests import Request

from wagate.auth import tokens
from wagate.auth.dependencies import Principal, bearer_token, check_instance_access
from wagate.errors import NotFound


def test_new_tokens_are_prefixed_random_and_long() -> None:
    admin = tokens.new_token(tokens.ADMIN_PREFIX)
    instance = tokens.new_token(tokens.INSTANCE_PREFIX)
    assert admin.startswith("wga_") and instance.startswith("wgi_")
    assert len(admin) >= 4 + 43  # 32 random bytes, url-safe base64
    assert len({tokens.new_token("x_") for _ in range(200)}) == 200


def test_hash_is_sha256_hex_and_not_the_token() -> None:
    token = tokens.new_token(tokens.INSTANCE_PREFIX)
    digest = tokens.hash_token(token)
    assert digest == hashlib.sha256(token.encode()).hexdigest()
    assert token not in digest
    assert tokens.hash_token(token) == digest  # deterministic: looked up by hash


def test_token_matches() -> None:
    token = tokens.new_token(tokens.ADMIN_PREFIX)
    stored = tokens.hash_token(token)
    assert tokens.token_matches(token, stored)
    assert not tokens.token_matches(token + "x", stored)
    assert not tokens.token_matches("", stored)
    assert not tokens.token_matches(token, "")


def test_compare_is_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[Any, Any]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(tokens.hmac, "compare_digest", spy)
    token = tokens.new_token(tokens.ADMIN_PREFIX)
    assert tokens.token_matches(token, tokens.hash_token(token))
    assert calls == [(tokens.hash_token(token), tokens.hash_token(token))]


def _request(headers: dict[str, str]) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    return Request({"type": "http", "method": "GET", "path": "/", "headers": raw})


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Authorization": "Bearer abc"}, "abc"),
        ({"Authorization": "bearer   abc  "}, "abc"),
        ({"Authorization": "BEARER abc"}, "abc"),
        ({"X-Api-Key": "abc"}, "abc"),
        ({"X-Api-Key": "  abc "}, "abc"),
        ({"Authorization": "Bearer abc", "X-Api-Key": "def"}, "abc"),
        ({"Authorization": "Basic dXNlcjpwYXNz", "X-Api-Key": "def"}, "def"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, None),
        ({"Authorization": "Bearer"}, None),
        ({"Authorization": "Bearer   "}, None),
        ({"Authorization": "abc"}, None),
        ({"X-Api-Key": "   "}, None),
        ({}, None),
    ],
)
def test_bearer_or_api_key(headers: dict[str, str], expected: str | None) -> None:
    assert bearer_token(_request(headers)) == expected


def test_principal_access() -> None:
    admin = Principal(is_admin=True)
    mine = Principal(is_admin=False, instance_name="a")
    assert admin.can_access("a") and admin.can_access("b")
    assert mine.can_access("a") and not mine.can_access("b")
    check_instance_access(mine, "a")
    with pytest.raises(NotFound):
        check_instance_access(mine, "b")
