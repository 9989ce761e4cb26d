"""Token generation and hashing. Tokens are 256-bit random, so a plain SHA-256 is a safe hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets

ADMIN_PREFIX = "wga_"
INSTANCE_PREFIX = "wgi_"


def new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_matches(token: str, expected_hash: str) -> bool:
    return hmac.compare_digest(hash_token(token), expected_hash)


def token_from_headers(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The token of a request: `Authorization: Bearer` first, else `X-Api-Key` (ASGI headers,
    names in lower case). One rule for the edge and the routes, so that no layer reads a
    different token from the same request than another."""
    api_key = None
    for name, value in headers:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
        elif name == b"x-api-key" and api_key is None and value.strip():
            api_key = value.decode("latin-1").strip()
    return api_key
